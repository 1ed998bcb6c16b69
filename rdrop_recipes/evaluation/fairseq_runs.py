"""A fairseq command on a checkpoint: this interpreter's ``fairseq_cli`` (console scripts
on PATH or not) with the plugin's ``--user-dir``, its output into a log."""

import shlex
import subprocess
import sys

from rdrop_recipes.config import recipe_config
from rdrop_recipes.fairseq_io.log_lines import last_line
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError


def device_flags(device):
    if device == "auto":
        import torch

        device = "cuda" if torch.cuda.is_available() else "cpu"
    return ["--cpu"] if device == "cpu" else []


def run_on_checkpoint(cfg, tool, flag_table, checkpoint, flags, extra, log_path, prog, hint=None):
    """(command, output lines) of ``fairseq-<tool> DATA --user-dir PLUGIN --path CHECKPOINT
    FLAGS [flag_table] EXTRA`` (fairseq builds the task from its command line: whatever
    loads an R-Drop checkpoint needs --user-dir)."""
    recipe = cfg["recipe"]
    command = [sys.executable, "-m", f"fairseq_cli.{tool}", recipe["data"], "--user-dir", PLUGIN_DIR]
    command += ["--path", checkpoint, *flags, *recipe_config.to_flags(cfg.get(flag_table, {}))]
    command += device_flags(recipe.get("device", "auto")) + list(extra)
    return command, run_logged(command, log_path, prog, "fairseq-" + tool.replace("_", "-"), hint)


def run_logged(command, log_path, prog, tool, hint=None):
    """Run ``command`` into ``log_path``; its lines. A failure: fairseq's last line and ``hint(lines)``."""
    print(f"{prog}: " + shlex.join(command), flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        code = children.run(command, stdout=log, stderr=subprocess.STDOUT)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        lines = log.readlines()
    if code:
        advice = hint(lines) if hint else ""
        raise RecipeError(
            f"{tool} failed with status {code}: {last_line(lines)}{advice} (full log: {log_path})"
        )
    return lines
