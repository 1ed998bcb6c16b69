"""The two packages stay apart: the plugin (``rdrop_fairseq``) holds only what
``--user-dir`` imports; the recipes (``rdrop_recipes``) reach it only through
fairseq's command line and its folder path."""

import ast
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def imported_modules(package):
    """Every module name a package's files import (absolute names, top level)."""
    found = {}
    for folder, _, files in os.walk(os.path.join(REPO, package)):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as handle:
                tree = ast.parse(handle.read(), path)
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0:
                    names = [node.module]
                else:
                    continue
                for module in names:
                    found.setdefault(module.split(".")[0], []).append(os.path.relpath(path, REPO))
    return found


def test_plugin_never_imports_a_recipe():
    assert "rdrop_recipes" not in imported_modules("rdrop_fairseq")


@pytest.mark.parametrize("forbidden", ["rdrop_fairseq", "fairseq", "fairseq_cli"])
def test_recipes_never_import_the_plugin_or_fairseq(forbidden):
    assert forbidden not in imported_modules("rdrop_recipes")


def entry_points():
    """Every recipe module with a ``python -m`` entry point."""
    folder = os.path.join(REPO, "rdrop_recipes")
    return sorted(
        name[:-3]
        for name in os.listdir(folder)
        if name.endswith(".py")
        and 'if __name__ == "__main__"' in open(os.path.join(folder, name), encoding="utf-8").read()
    )


@pytest.mark.parametrize("module", entry_points())
def test_recipe_help_imports_no_fairseq(module):
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['{module}', '--help']\n"
        "try:\n"
        f"    runpy.run_module('rdrop_recipes.{module}', run_name='__main__')\n"
        "except SystemExit as done:\n"
        "    assert done.code in (0, None), done.code\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    loaded = result.stdout.split("LOADED", 1)[1]
    assert "'fairseq'" not in loaded and "'rdrop_fairseq'" not in loaded
    assert "usage:" in result.stdout


def test_plugin_dir_is_found_without_importing_the_plugin():
    probe = (
        "import sys\nfrom rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR\n"
        "print(PLUGIN_DIR)\nprint('rdrop_fairseq' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", probe], cwd="/", capture_output=True, text=True)
    path, imported = result.stdout.split()
    assert os.path.isfile(os.path.join(path, "criterions", "__init__.py"))
    assert imported == "False"
