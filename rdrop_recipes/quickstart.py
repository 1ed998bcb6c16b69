"""The quickstart: a short R-Drop training and a BLEU evaluation on a synthetic
corpus written on the fly, on the CPU, in a few minutes.

    python -m rdrop_recipes.quickstart [--out runs/quickstart] [--updates 400]

Steps: write the corpus -> fairseq-preprocess -> fairseq-train with
``--task rdrop_translation --criterion reg_label_smoothed_cross_entropy
--reg-alpha 5`` -> fairseq-generate (beam 5) -> ``scores.json``. Each step
runs the real fairseq command line (printed first), so the quickstart also
shows what a real run looks like. A rerun starts from scratch in a fresh
folder; the results file is written last, atomically.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time

from . import toy_data
from .plugin_dir import PLUGIN_DIR

TINY_TRANSFORMER = (
    "--arch transformer --encoder-layers 2 --decoder-layers 2 --encoder-embed-dim 64 "
    "--decoder-embed-dim 64 --encoder-ffn-embed-dim 128 --decoder-ffn-embed-dim 128 "
    "--encoder-attention-heads 4 --decoder-attention-heads 4 --share-all-embeddings"
).split()


def fairseq_cli(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def step(title, cmd, cwd, log_path):
    print(f"==> {title}\n    {' '.join(cmd)}", flush=True)
    started = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.run(cmd, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, text=True)
    if proc.returncode != 0:
        tail = open(log_path).read().splitlines()[-15:]
        sys.exit(
            f"quickstart: error: {title} failed (exit {proc.returncode}); last lines of {log_path}:\n"
            + "\n".join(tail)
        )
    print(f"    done in {time.time() - started:.0f}s (log: {log_path})", flush=True)
    return open(log_path).read()


def main(argv=None):
    parser = argparse.ArgumentParser(description="R-Drop quickstart on a synthetic corpus (CPU)")
    parser.add_argument("--out", default="runs/quickstart")
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--alpha", type=float, default=5.0)
    args = parser.parse_args(argv)

    out = os.path.abspath(args.out)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    counts = toy_data.write_corpus(os.path.join(out, "raw"))
    print(f"==> synthetic corpus: {counts} in {out}/raw")

    step(
        "binarize",
        [
            fairseq_cli("fairseq-preprocess"),
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
            fairseq_cli("fairseq-train"),
            "bin",
            "--user-dir",
            PLUGIN_DIR,
            "--task",
            "rdrop_translation",
            "--criterion",
            "reg_label_smoothed_cross_entropy",
            "--reg-alpha",
            str(args.alpha),
            "--label-smoothing",
            "0.1",
            *TINY_TRANSFORMER,
            "--dropout",
            "0.1",
            "--optimizer",
            "adam",
            "--adam-betas",
            "(0.9,0.98)",
            "--lr",
            "3e-3",
            "--lr-scheduler",
            "inverse_sqrt",
            "--warmup-updates",
            "40",
            "--max-tokens",
            "2000",
            "--max-update",
            str(args.updates),
            "--log-format",
            "simple",
            "--log-interval",
            "50",
            "--eval-bleu",
            "--eval-bleu-args",
            '{"beam": 1}',
            "--best-checkpoint-metric",
            "bleu",
            "--maximize-best-checkpoint-metric",
            "--validate-interval",
            "10",
            "--save-dir",
            "checkpoints",
            "--no-epoch-checkpoints",
            "--cpu",
            "--seed",
            "1",
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
            fairseq_cli("fairseq-generate"),
            "bin",
            "--user-dir",
            PLUGIN_DIR,
            "--path",
            "checkpoints/checkpoint_best.pt",
            "--beam",
            "5",
            "--batch-size",
            "128",
            "--required-batch-size-multiple",
            "1",
            "--cpu",
        ],
        out,
        os.path.join(out, "generate.log"),
    )
    match = re.search(r"Generate test with beam=5: BLEU4 = ([\d.]+).*", gen_log)
    if match is None:
        sys.exit("quickstart: error: fairseq-generate printed no BLEU; see generate.log")
    scores = {
        "bleu": float(match.group(1)),
        "fairseq_line": match.group(0),
        "updates": args.updates,
        "alpha": args.alpha,
        "sentences": counts["test"],
    }
    tmp = os.path.join(out, "scores.json.tmp")
    with open(tmp, "w") as f:
        json.dump(scores, f, indent=2)
    os.replace(tmp, os.path.join(out, "scores.json"))
    print(f"==> {match.group(0)}\n==> wrote {out}/scores.json")


if __name__ == "__main__":
    main()
