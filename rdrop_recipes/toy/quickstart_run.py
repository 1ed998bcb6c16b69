"""The quickstart: its ``--out`` folder, then the toy corpus -> fairseq-preprocess -> fairseq-train
with R-Drop -> fairseq-generate (beam 5) -> ``scores.json``. Each step runs the real fairseq command
line, printed first, its console into ``<program>.log``."""

import os
import shutil
import subprocess
import sys
import time

from rdrop_recipes.fairseq_io.log_lines import last_line, reported_bleu
from rdrop_recipes.folders.atomic_files import write_json
from rdrop_recipes.folders.markers import QUICKSTART_MARKER, SCORES
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.toy.task import toy_generate, toy_training, write_corpus

# what a run writes into --out; a rerun into a marked folder removes these and nothing else
OUTPUTS = (SCORES, "raw", "bin", "checkpoints", "preprocess.log", "train.log", "generate.log")


def claim_out_dir(out):
    """Make ``out`` a fresh quickstart folder: a new or empty one is taken and marked, a marked one
    loses only the quickstart's own outputs, any other is refused: nothing of the user's is deleted."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise RecipeError(f"--out {out} is a file; pass a folder that does not exist yet")
    marker = os.path.join(out, QUICKSTART_MARKER)
    if os.path.isdir(out) and os.listdir(out) and not os.path.isfile(marker):
        raise RecipeError(
            f"--out {out} already holds files the quickstart did not write; "
            "pass a new or empty folder (nothing was changed)"
        )
    os.makedirs(out, exist_ok=True)
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write("written by python -m rdrop_recipes.quickstart; a re-run replaces its outputs\n")
    for name in OUTPUTS:  # scores.json first: a half-redone folder must not look finished
        path = os.path.join(out, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)


def step(title, program, args, out):
    """Run ``fairseq_cli.<program>`` in ``out``, its console into ``out/<program>.log``; that text."""
    cmd = [sys.executable, "-m", f"fairseq_cli.{program}", *args]
    log_path = os.path.join(out, f"{program}.log")
    print(f"==> {title}\n    {' '.join(cmd)}", flush=True)
    started = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        status = children.run(cmd, cwd=out, stdout=log, stderr=subprocess.STDOUT)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        text = log.read()
    if status != 0:
        last = last_line(text.splitlines())
        raise RecipeError(f"{title} failed (exit {status}): {last} (full log: {log_path})")
    print(f"    done in {time.time() - started:.0f}s (log: {log_path})", flush=True)
    return text


def run_quickstart(out, updates, alpha):
    """Every step into the folder ``out`` (claimed first); ``scores.json`` last."""
    claim_out_dir(out)
    counts = write_corpus(os.path.join(out, "raw"))
    print(f"==> synthetic corpus: {counts} in {out}/raw")

    languages = ["--source-lang", "src", "--target-lang", "tgt"]
    splits = ["--trainpref", "raw/train", "--validpref", "raw/valid", "--testpref", "raw/test"]
    binarize = [*languages, *splits, "--destdir", "bin", "--joined-dictionary", "--workers", "1"]
    step("binarize", "preprocess", binarize, out)
    training = [*toy_training(updates, log_interval=50, bleu_every=10), "--reg-alpha", str(alpha)]
    title = f"train R-Drop (alpha {alpha}) for {updates} updates on the CPU"
    train_log = step(title, "train", ["bin", *training, "--save-dir", "checkpoints"], out).splitlines()
    # one line per validation and the last epoch's summary, not one per epoch
    shown = [line for line in train_log if "| valid |" in line]
    shown += [line for line in train_log if "| train |" in line][-1:]
    for line in shown:
        print("    " + line.split("| INFO | ")[-1])
    generate = ["bin", *toy_generate("checkpoints/checkpoint_best.pt")]
    gen_log = step("beam search (beam 5) on the test set", "generate", generate, out)
    reported = reported_bleu(gen_log.splitlines())
    if reported is None:
        raise RecipeError(f"fairseq-generate printed no BLEU; see {out}/generate.log")
    fairseq_line, bleu = reported
    scores = dict(
        bleu=bleu, fairseq_line=fairseq_line, updates=updates, alpha=alpha, sentences=counts["test"]
    )
    write_json(os.path.join(out, SCORES), scores)
    print(f"==> {fairseq_line}\n==> wrote {out}/scores.json")
