"""fairseq's console commands as the end-to-end tests run them: the installed
programs, a clean environment, the toy task's tiny training flags (``rdrop_recipes.toy.task``)."""

import os
import re
import subprocess
import sys

from rdrop_recipes.toy.task import toy_training

BIN = os.path.dirname(sys.executable)


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCH_FORCE")}
    env["PYTHONWARNINGS"] = "ignore"
    return env


def run(cmd, cwd, check=True):
    proc = subprocess.run(cmd, cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=900)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{cmd[0]} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
    return proc


def train_cmd(data, save_dir, *extra, updates=300, bleu_every=None):
    flags = toy_training(updates, log_interval=10, bleu_every=bleu_every)
    return [f"{BIN}/fairseq-train", data, *flags, "--save-dir", save_dir, "--num-workers", "0", *extra]


def metric_series(log, kind, name):
    pattern = re.compile(rf"\| {kind} \|.*?\b{name}[ =]([-\d.]+)")
    return [float(m.group(1)) for m in pattern.finditer(log)]
