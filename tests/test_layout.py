"""The two packages stay apart: the plugin (``rdrop_fairseq``) holds only what
``--user-dir`` imports; the recipes (``rdrop_recipes``) reach it only through
fairseq's command line and its folder path."""

import ast
import os
import re
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


# ---- the recipes: entry points on top, a library below -------------------------------------


def recipe_imports():
    """{module: {imported rdrop_recipes modules}} over every file of the recipes, imports
    inside functions included (a deferred import still ties the two modules together).
    ``from rdrop_recipes.pkg import name`` counts as importing ``pkg.name`` when that is a
    module, else ``pkg``."""
    root = os.path.join(REPO, "rdrop_recipes")
    modules = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                dotted = os.path.relpath(path, REPO)[:-3].replace(os.sep, ".")
                modules[dotted.removesuffix(".__init__")] = path
    graph = {}
    for module, path in modules.items():
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        with open(path, encoding="utf-8") as handle:
            tree = ast.parse(handle.read(), path)
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                targets = [f"{base}.{alias.name}" for alias in node.names] + [base]
            else:
                continue
            for target in targets:
                if target in modules and target != module:
                    edges.add(target)
        # "from pkg import mod" adds both pkg and pkg.mod: keep the most precise
        graph[module] = {t for t in edges if not any(o.startswith(t + ".") for o in edges)}
    return graph


def is_entry_point(module):
    """A module right under ``rdrop_recipes`` (not a subpackage of the library)."""
    return module.count(".") == 1 and not os.path.isdir(os.path.join(REPO, *module.split(".")))


def test_every_top_level_recipe_module_is_an_entry_point():
    """The folder shows the architecture: top-level modules are what ``scripts/`` runs
    (``python -m rdrop_recipes.X``); the library lives in the subpackages."""
    assert {f"rdrop_recipes.{m}" for m in entry_points()} == {
        m for m in recipe_imports() if is_entry_point(m)
    }


def test_no_entry_point_imports_another_and_the_library_imports_none():
    offenders = [
        f"{module} imports {target}"
        for module, targets in recipe_imports().items()
        for target in targets
        if is_entry_point(target)
    ]
    assert not offenders


def test_recipe_imports_have_no_cycle():
    graph = recipe_imports()
    state = {}  # module -> "open" while on the stack, "done" after

    def visit(module, stack):
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycle = stack[stack.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target, stack + [target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def test_the_layout_checks_see_a_cycle_and_an_entry_import(tmp_path, monkeypatch):
    """The two checks above fail on what they are meant to catch (a fabricated package)."""
    package = tmp_path / "rdrop_recipes"
    (package / "lib").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "lib" / "__init__.py").write_text("")
    (package / "lib" / "a.py").write_text("def f():\n    from rdrop_recipes.lib import b\n")
    (package / "lib" / "b.py").write_text("from rdrop_recipes.lib.a import f\n")
    (package / "one.py").write_text("from rdrop_recipes import two\nif __name__ == '__main__':\n    pass\n")
    (package / "two.py").write_text("if __name__ == '__main__':\n    pass\n")
    monkeypatch.setattr(sys.modules[__name__], "REPO", str(tmp_path))
    with pytest.raises(AssertionError, match="import cycle: rdrop_recipes.lib.a -> rdrop_recipes.lib.b"):
        test_recipe_imports_have_no_cycle()
    with pytest.raises(AssertionError, match="rdrop_recipes.one imports rdrop_recipes.two"):
        test_no_entry_point_imports_another_and_the_library_imports_none()


# ---- packaging: the plugin alone, the recipes as an extra -----------------------------------

# import name -> distribution name, where they differ; omegaconf is fairseq's own configuration
# library (fairseq requires it), which the plugin uses only as fairseq does, on fairseq's configs
DISTRIBUTION = {
    "rouge_score": "rouge-score",
    "subword_nmt": "subword-nmt",
    "fairseq": "fairseq-fixed",
    "fairseq_cli": "fairseq-fixed",
    "omegaconf": "fairseq-fixed",
}


def setup_requirements():
    """(install_requires, extras_require) as setup.py declares them, distribution names only."""
    with open(os.path.join(REPO, "setup.py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    keywords = {
        k.arg: ast.literal_eval(k.value)
        for k in call.keywords
        if k.arg in ("install_requires", "extras_require")
    }

    def names(requirements):
        return {re.split(r"[<>=!;\[ ]", r, maxsplit=1)[0].strip() for r in requirements}

    return names(keywords["install_requires"]), {k: names(v) for k, v in keywords["extras_require"].items()}


def third_party_imports(package):
    return {m for m in imported_modules(package) if m not in sys.stdlib_module_names and m != package}


def test_the_plugin_installs_with_what_it_imports_and_nothing_else():
    required, _ = setup_requirements()
    needed = {DISTRIBUTION.get(m, m) for m in third_party_imports("rdrop_fairseq")}
    assert needed <= required, "the plugin imports what `pip install .` does not install"
    assert required - needed <= {"fairseq"}, "`pip install .` installs what the plugin does not import"


def test_every_library_the_recipes_import_is_in_the_recipes_extra():
    required, extras = setup_requirements()
    for module in third_party_imports("rdrop_recipes") - {"tomli"}:  # tomli: Python < 3.11 only
        name = DISTRIBUTION.get(module, module)
        assert name in required | extras["recipes"], (
            f"rdrop_recipes imports {module}; add {name} to [recipes]"
        )
    assert not (extras["recipes"] & required), "a recipes dependency is also a plugin requirement"
