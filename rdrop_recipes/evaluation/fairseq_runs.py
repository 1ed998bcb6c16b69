"""How the evaluations run a fairseq command on a checkpoint: this
interpreter's ``fairseq_cli`` (the active environment's fairseq, console
scripts on PATH or not) with the plugin's ``--user-dir``, ``--cpu`` where no
GPU is used, its output into a log in the results folder, and a failure
turned into one line that names the log."""

import shlex
import subprocess
import sys

from rdrop_recipes.fairseq_io.log_lines import last_line
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError


def device_flags(device):
    if device == "cpu":
        return ["--cpu"]
    if device == "auto":
        import torch

        return [] if torch.cuda.is_available() else ["--cpu"]
    return []


def checkpoint_command(tool, data, checkpoint):
    """``fairseq-<tool> DATA --user-dir PLUGIN --path CHECKPOINT`` (fairseq builds the task
    from its own command line: every command that loads a checkpoint needs --user-dir)."""
    return [sys.executable, "-m", f"fairseq_cli.{tool}", data, "--user-dir", PLUGIN_DIR, "--path", checkpoint]


def run_logged(command, log_path, prog, tool, hint=None):
    """Print and run ``command`` with its output into ``log_path``; its lines. A failure is a
    RecipeError with fairseq's last line, ``hint(lines)`` after it and the log's path."""
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
