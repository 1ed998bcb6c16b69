"""A small real-text fine-tuning comparison, baseline vs R-Drop, on data this
machine has: docstrings of the Python standard library, classified by the
package they document (tkinter, asyncio, email, logging, xml).

No pre-trained model or text corpus can be downloaded here, so the steps are
GLUE's in miniature, all through the project's recipes and fairseq's CLI:

1. examples: the first paragraph of every function/class docstring (>= 4
   words) of the five packages, lower-cased and split into words, the package
   names removed; at most ``--per-class`` per package; split 60/20/20 into
   train / valid / test with a fixed seed;
2. "pre-training": a tiny RoBERTa (``--layers``, ``--dim``) trained with
   masked LM on the docstrings of every *other* stdlib package plus the
   training examples' text (no valid/test text), saved as a checkpoint;
3. fine-tuning: ``rdrop_recipes.finetune_glue`` from that checkpoint with a
   config that adds a ``[tasks.DOCS]`` table, ``--variant baseline`` and
   ``--variant rdrop`` for every seed; per seed the best dev accuracy and the
   test accuracy at that update (the test set is validated alongside), and the means.

    python benchmarks/finetune_docstrings.py --work /tmp/docs --seeds 1,2,3
"""

import argparse
import ast
import json
import os
import random
import re
import subprocess
import sys
import sysconfig

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLASSES = ("tkinter", "asyncio", "email", "logging", "xml")
_WORD = re.compile(r"[a-z0-9_]+|[^\sa-z0-9_]")


def python_files(path):
    if os.path.isfile(path):
        return [path] if path.endswith(".py") else []
    return [
        os.path.join(root, n)
        for root, _, files in sorted(os.walk(path))
        for n in sorted(files)
        if n.endswith(".py")
    ]


def docstrings(path):
    """First paragraphs of the function/class docstrings of a .py file or every .py under a folder."""
    for name in python_files(path):
        try:
            with open(name, encoding="utf-8") as f:
                tree = ast.parse(f.read())
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                doc = ast.get_docstring(node)
                if doc:
                    yield doc.strip().split("\n\n")[0]


def words(text, banned=CLASSES):
    tokens = [t for t in _WORD.findall(text.lower()) if t not in banned]
    return " ".join(tokens[:64])


def build_examples(per_class, seed):
    stdlib = sysconfig.get_paths()["stdlib"]
    rng = random.Random(seed)
    examples = []
    for label in CLASSES:
        found = sorted({words(d) for d in docstrings(os.path.join(stdlib, label)) if len(d.split()) >= 4})
        rng.shuffle(found)
        examples += [(text, label) for text in found[:per_class] if text]
    rng.shuffle(examples)
    n = len(examples)
    train, valid, test = (
        examples[: int(0.6 * n)],
        examples[int(0.6 * n) : int(0.8 * n)],
        examples[int(0.8 * n) :],
    )
    held_out = {text for text, _ in valid + test}
    corpus = [text for text, _ in train]
    for entry in sorted(os.listdir(stdlib)):
        path = os.path.join(stdlib, entry)
        # every other package and top-level module; not the test suite or IDLE/2to3 sources
        if entry in CLASSES or entry in ("test", "idlelib", "lib2to3", "site-packages"):
            continue
        corpus += [t for t in (words(d) for d in docstrings(path)) if t and t not in held_out]
    return train, valid, test, corpus


def run(command, log):
    with open(log, "w") as handle:
        status = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, cwd=REPO).returncode
    if status:
        sys.exit(f"failed ({status}): {' '.join(command)}; log {log}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--work", default="/tmp/finetune-docstrings")
    p.add_argument("--seeds", default="1,2,3")
    p.add_argument("--per-class", type=int, default=250)
    p.add_argument("--pretrain-updates", type=int, default=600)
    p.add_argument("--updates", type=int, default=500, help="fine-tuning updates")
    p.add_argument("--alpha", type=float, default=1.0)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--dim", type=int, default=128)
    args = p.parse_args(argv)
    work = args.work
    os.makedirs(work, exist_ok=True)
    py = sys.executable
    arch = ["--arch", "roberta_base", "--encoder-layers", str(args.layers), "--encoder-embed-dim", str(args.dim),
            "--encoder-ffn-embed-dim", str(4 * args.dim), "--encoder-attention-heads", "4", "--max-positions", "80"]  # fmt: skip

    train, valid, test, corpus = build_examples(args.per_class, seed=0)
    text = os.path.join(work, "text")
    os.makedirs(text, exist_ok=True)
    for split, rows in (("train", train), ("valid", valid), ("test", test)):
        with (
            open(os.path.join(text, f"{split}.input0"), "w") as a,
            open(os.path.join(text, f"{split}.label"), "w") as b,
        ):
            a.writelines(t + "\n" for t, _ in rows)
            b.writelines(label + "\n" for _, label in rows)
    cut = int(0.95 * len(corpus))
    for split, rows in (("train", corpus[:cut]), ("valid", corpus[cut:])):
        with open(os.path.join(text, f"lm.{split}"), "w") as f:
            f.writelines(t + "\n" for t in rows)
    print(
        f"examples: train {len(train)}, valid {len(valid)}, test {len(test)}; pre-training sentences {len(corpus)}"
    )

    data = os.path.join(work, "DOCS-bin")
    pre = [py, "-m", "fairseq_cli.preprocess", "--only-source", "--workers", "1"]
    if not os.path.isdir(os.path.join(data, "input0")):
        run(pre + ["--trainpref", f"{text}/lm.train", "--validpref", f"{text}/lm.valid", "--destdir",
                   f"{work}/lm-bin", "--thresholdsrc", "2"], f"{work}/pre-lm.log")  # fmt: skip
        run(pre + ["--trainpref", f"{text}/train.input0", "--validpref", f"{text}/valid.input0", "--testpref",
                   f"{text}/test.input0", "--destdir", f"{data}/input0", "--srcdict", f"{work}/lm-bin/dict.txt"],
            f"{work}/pre-input0.log")  # fmt: skip
        run(pre + ["--trainpref", f"{text}/train.label", "--validpref", f"{text}/valid.label", "--destdir",
                   f"{data}/label", "--testpref", f"{text}/test.label"], f"{work}/pre-label.log")  # fmt: skip

    model = os.path.join(work, "pretrained", "checkpoint_last.pt")
    if not os.path.isfile(model):
        print(f"pre-training the tiny RoBERTa (masked LM, {args.pretrain_updates} updates)", flush=True)
        run([py, "-m", "fairseq_cli.train", f"{work}/lm-bin", "--task", "masked_lm", "--criterion", "masked_lm",
             *arch, "--tokens-per-sample", "72", "--sample-break-mode", "complete", "--batch-size", "32",
             "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)", "--lr", "1e-3", "--lr-scheduler",
             "polynomial_decay", "--warmup-updates", "60", "--total-num-update", str(args.pretrain_updates),
             "--max-update", str(args.pretrain_updates), "--dropout", "0.1", "--cpu", "--no-epoch-checkpoints",
             "--save-dir", os.path.dirname(model), "--log-format", "simple", "--log-interval", "100",
             "--no-progress-bar", "--seed", "1"], f"{work}/pretrain.log")  # fmt: skip

    with open(os.path.join(REPO, "configs", "finetune-glue.toml")) as f:
        config = f.read()
    config += (
        "\n[tasks.DOCS]\n"
        f"num_classes = {len(CLASSES)}\nmax_update = {args.updates}\nbatch_size = 16\n"
        f'reg_alpha = {args.alpha}\nwarmup_updates = {args.updates // 16}\nmetric = "accuracy"\n'
        # the test set is validated alongside; its accuracy is read at the best dev update
        'valid_subset = "valid,test"\n'
    )
    config_path = os.path.join(work, "finetune-docs.toml")
    with open(config_path, "w") as f:
        f.write(config)
    summary = {}
    for variant in ("baseline", "rdrop"):
        results = os.path.join(work, "results", variant)
        if not os.path.isdir(results) or not os.listdir(results):
            print(f"fine-tuning: {variant}, seeds {args.seeds}", flush=True)
            run([py, "-m", "rdrop_recipes.finetune_glue", "DOCS", "--config", config_path, "--data", data,
                 "--model", model, "--variant", variant, "--seeds", args.seeds, "--results-dir", results,
                 "--cpu", "--set", "lr=1e-4", "--set", "log_interval=50", "--set", "max_positions=80",
                 "--set", "max_epoch=0", "--", *arch], f"{work}/finetune-{variant}.log")  # fmt: skip
        (folder,) = [n for n in os.listdir(results) if not n.startswith(".")]
        with open(os.path.join(results, folder, "scores.json")) as f:
            scores = json.load(f)
        summary[variant] = {
            "dev_accuracy_per_seed": {s: e["best"] for s, e in scores["seeds"].items()},
            "test_accuracy_at_best_dev": {
                s: e["other_subsets_at_best"].get("test") for s, e in scores["seeds"].items()
            },
            "mean": scores["mean"],
            "test_mean": round(
                sum(e["other_subsets_at_best"].get("test", 0.0) for e in scores["seeds"].values())
                / len(scores["seeds"]),
                2,
            ),
            "stdev": scores["stdev"],
        }
        print(variant, json.dumps(summary[variant]), flush=True)
    with open(os.path.join(work, "summary.json"), "w") as f:
        json.dump(
            {"examples": [len(train), len(valid), len(test)], "args": vars(args), **summary}, f, indent=1
        )


if __name__ == "__main__":
    main()
