"""The quickstart's steps: write the toy corpus -> fairseq-preprocess -> fairseq-train
with R-Drop -> fairseq-generate (beam 5) -> ``scores.json``. Each step runs the real
fairseq command line, printed first, so the quickstart also shows what a real run
looks like; its console goes to ``<step>.log`` in the quickstart's folder."""

import os
import subprocess
import sys
import time

from rdrop_recipes.fairseq_io.log_lines import last_line, reported_bleu
from rdrop_recipes.folders.atomic_files import write_json
from rdrop_recipes.folders.markers import SCORES
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.toy.corpus import write_corpus
from rdrop_recipes.toy.quickstart_folder import claim_out_dir
from rdrop_recipes.toy.settings import toy_generate, toy_training


def fairseq_cli(name):
    return [sys.executable, "-m", f"fairseq_cli.{name}"]


def step(title, cmd, cwd, log_path):
    """Run one fairseq program in ``cwd``, its console into ``log_path``; that console."""
    print(f"==> {title}\n    {' '.join(cmd)}", flush=True)
    started = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        status = children.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        text = log.read()
    if status != 0:
        last = last_line(text.splitlines())
        raise RecipeError(f"{title} failed (exit {status}): {last} (full log: {log_path})")
    print(f"    done in {time.time() - started:.0f}s (log: {log_path})", flush=True)
    return text


def run_quickstart(out, updates, alpha):
    """Every step into the folder ``out`` (claimed first); ``scores.json`` is written last."""
    claim_out_dir(out)
    counts = write_corpus(os.path.join(out, "raw"))
    print(f"==> synthetic corpus: {counts} in {out}/raw")

    languages = ["--source-lang", "src", "--target-lang", "tgt"]
    splits = ["--trainpref", "raw/train", "--validpref", "raw/valid", "--testpref", "raw/test"]
    step(
        "binarize",
        [*fairseq_cli("preprocess"), *languages, *splits, "--destdir", "bin", "--joined-dictionary"]
        + ["--workers", "1"],
        out,
        os.path.join(out, "preprocess.log"),
    )
    train_log = step(
        f"train R-Drop (alpha {alpha}) for {updates} updates on the CPU",
        [*fairseq_cli("train"), "bin", *toy_training(updates, log_interval=50, bleu_every=10)]
        + ["--reg-alpha", str(alpha), "--save-dir", "checkpoints"],
        out,
        os.path.join(out, "train.log"),
    )
    # one line per validation and the last epoch's summary, not one per epoch
    epoch_lines = [line for line in train_log.splitlines() if "| train |" in line]
    shown = [line for line in train_log.splitlines() if "| valid |" in line] + epoch_lines[-1:]
    for line in shown:
        print("    " + line.split("| INFO | ")[-1])
    gen_log = step(
        "beam search (beam 5) on the test set",
        [*fairseq_cli("generate"), "bin", *toy_generate("checkpoints/checkpoint_best.pt")],
        out,
        os.path.join(out, "generate.log"),
    )
    reported = reported_bleu(gen_log.splitlines())
    if reported is None:
        raise RecipeError(f"fairseq-generate printed no BLEU; see {out}/generate.log")
    fairseq_line, bleu = reported
    scores = {
        "bleu": bleu,
        "fairseq_line": fairseq_line,
        "updates": updates,
        "alpha": alpha,
        "sentences": counts["test"],
    }
    write_json(os.path.join(out, SCORES), scores)
    print(f"==> {fairseq_line}\n==> wrote {out}/scores.json")
