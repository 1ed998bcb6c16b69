"""The quickstart: a short R-Drop training and a BLEU evaluation on a synthetic
corpus written on the fly, on the CPU, in a few minutes.

    python -m rdrop_recipes.quickstart [--out runs/quickstart] [--updates 400]

Steps: write the corpus -> fairseq-preprocess -> fairseq-train with
``--task rdrop_translation --criterion reg_label_smoothed_cross_entropy
--reg-alpha 5`` -> fairseq-generate (beam 5) -> ``scores.json``. Each step
runs the real fairseq command line (printed first), so the quickstart also
shows what a real run looks like. ``--out`` must be a new or empty folder,
or an earlier quickstart's (marked by ``.rdrop-quickstart``), where a rerun
replaces the quickstart's own outputs and nothing else; any other folder is
refused, so nothing of yours is ever deleted. The results file is written
last, atomically.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

from rdrop_recipes import toy_data
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.folders.atomic_files import write_json
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly

TINY_TRANSFORMER = (
    "--arch transformer --encoder-layers 2 --decoder-layers 2 --encoder-embed-dim 64 "
    "--decoder-embed-dim 64 --encoder-ffn-embed-dim 128 --decoder-ffn-embed-dim 128 "
    "--encoder-attention-heads 4 --decoder-attention-heads 4 --share-all-embeddings"
).split()
# what a run writes into --out; a re-run into a folder with MARKER removes these and nothing else
MARKER = ".rdrop-quickstart"
OUTPUTS = ("scores.json", "raw", "bin", "checkpoints", "preprocess.log", "train.log", "generate.log")


def toy_training(updates, log_interval, bleu_every=None):
    """fairseq-train's flags after the data folder for the toy task: the plugin's task and
    criterion, a tiny transformer and a schedule that learns the task in a few hundred CPU
    updates, and greedy validation BLEU every ``bleu_every`` epochs, which picks
    checkpoint_best.pt (tests/test_end_to_end.py trains with the same)."""
    flags = ["--user-dir", PLUGIN_DIR, "--task", "rdrop_translation"]
    flags += ["--criterion", "reg_label_smoothed_cross_entropy", "--label-smoothing", "0.1"]
    flags += [*TINY_TRANSFORMER, "--dropout", "0.1", "--optimizer", "adam", "--adam-betas", "(0.9,0.98)"]
    flags += ["--lr", "3e-3", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "40"]
    flags += ["--max-tokens", "2000", "--max-update", str(updates), "--no-epoch-checkpoints"]
    flags += ["--log-format", "simple", "--log-interval", str(log_interval), "--cpu", "--seed", "1"]
    if bleu_every:
        flags += ["--eval-bleu", "--eval-bleu-args", '{"beam": 1}', "--validate-interval", str(bleu_every)]
        flags += ["--best-checkpoint-metric", "bleu", "--maximize-best-checkpoint-metric"]
    return flags


def toy_generate(checkpoint):
    """fairseq-generate's flags after the data folder: beam 5 over the whole test set."""
    flags = ["--user-dir", PLUGIN_DIR, "--path", checkpoint, "--beam", "5", "--batch-size", "128"]
    return flags + ["--required-batch-size-multiple", "1", "--cpu"]


def fairseq_cli(name):
    return [sys.executable, "-m", f"fairseq_cli.{name}"]


def claim_out_dir(out):
    """Make ``out`` a fresh quickstart folder without deleting anything the user owns:
    a new or empty folder is taken and marked; a marked one (an earlier quickstart's)
    loses only the quickstart's own outputs; any other folder is refused."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise RecipeError(f"--out {out} is a file; pass a folder that does not exist yet")
    marker = os.path.join(out, MARKER)
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


def step(title, cmd, cwd, log_path):
    print(f"==> {title}\n    {' '.join(cmd)}", flush=True)
    started = time.time()
    with open(log_path, "w", encoding="utf-8") as log:
        status = children.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        text = log.read()
    if status != 0:
        last = (text.strip().splitlines() or ["(no output)"])[-1]
        raise RecipeError(f"{title} failed (exit {status}): {last} (full log: {log_path})")
    print(f"    done in {time.time() - started:.0f}s (log: {log_path})", flush=True)
    return text


@exits_cleanly("quickstart")
def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="quickstart", description="R-Drop quickstart on a synthetic corpus (CPU)"
    )
    parser.add_argument(
        "--out", default="runs/quickstart", help="a new or empty folder (or an earlier run's)"
    )
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--alpha", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.updates < 1:
        raise RecipeError(f"--updates must be >= 1 (got {args.updates})")
    if not args.alpha >= 0:
        raise RecipeError(f"--alpha must be >= 0 (got {args.alpha})")

    out = os.path.abspath(args.out)
    claim_out_dir(out)
    counts = toy_data.write_corpus(os.path.join(out, "raw"))
    print(f"==> synthetic corpus: {counts} in {out}/raw")

    step(
        "binarize",
        [
            *fairseq_cli("preprocess"),
            "--source-lang",
            "src",
            "--target-lang",
            "tgt",
            "--trainpref",
            "raw/train",
            "--validpref",
            "raw/valid",
            "--testpref",
            "raw/test",
            "--destdir",
            "bin",
            "--joined-dictionary",
            "--workers",
            "1",
        ],
        out,
        os.path.join(out, "preprocess.log"),
    )
    train_log = step(
        f"train R-Drop (alpha {args.alpha}) for {args.updates} updates on the CPU",
        [
            *fairseq_cli("train"),
            "bin",
            *toy_training(args.updates, log_interval=50, bleu_every=10),
            "--reg-alpha",
            str(args.alpha),
            "--save-dir",
            "checkpoints",
        ],
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
        [
            *fairseq_cli("generate"),
            "bin",
            *toy_generate("checkpoints/checkpoint_best.pt"),
        ],
        out,
        os.path.join(out, "generate.log"),
    )
    match = re.search(r"Generate test with beam=5: BLEU4 = ([\d.]+).*", gen_log)
    if match is None:
        raise RecipeError(f"fairseq-generate printed no BLEU; see {out}/generate.log")
    scores = {
        "bleu": float(match.group(1)),
        "fairseq_line": match.group(0),
        "updates": args.updates,
        "alpha": args.alpha,
        "sentences": counts["test"],
    }
    write_json(os.path.join(out, "scores.json"), scores)
    print(f"==> {match.group(0)}\n==> wrote {out}/scores.json")


if __name__ == "__main__":
    sys.exit(main())
