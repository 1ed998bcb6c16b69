"""Language-model perplexity with fairseq-eval-lm, into a fresh results folder per run.

    python -m rdrop_recipes.evaluate_lm --config configs/evaluate-wikitext103.toml \\
        [--checkpoint PATH|GLOB|DIR ...] [--average-last N] [--data DIR] [--subsets valid,test]
        [--name NAME] [--results-dir DIR] [--set key=value ...] [--device auto|cpu|cuda | --cpu]
        [-- fairseq-eval-lm flags]

Each subset (valid and test by default) is scored by

    fairseq-eval-lm DATA --user-dir rdrop_fairseq --path CKPT --gen-subset SUBSET [eval_lm table]

with the ``[eval_lm]`` table of the config as flags (the context window of
fairseq's language-model READMEs). The perplexity is fairseq's: 2 to the
mean negative log2-likelihood per token, every token of the subset counted
once, end-of-line tokens included. fairseq-eval-lm silently skips samples
longer than the model's positions; the number of tokens it scored is
therefore checked against the subset's size in ``SUBSET.idx``, and a
shortfall is an error rather than the perplexity of part of the data.

As in ``rdrop_recipes.evaluate``, a run builds
``<results_dir>/.<name>-<timestamp>.partial/`` (one ``eval-lm.<subset>.log``
per subset) and renames it to ``<results_dir>/<name>-<timestamp>/`` only once
``scores.json`` is written; a failed run keeps its partial folder for inspection.
"""

import argparse
import datetime
import os
import re
import shlex
import struct
import subprocess
import sys
import time

from rdrop_recipes import evaluate
from rdrop_recipes.config import recipe_config
from rdrop_recipes.config.command_line import parse_with_passthrough
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.data_bin import check_data_folder
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly

from .evaluate import default_name, device_flags

FLAG_TABLE = "eval_lm"
RESULT = re.compile(r"Loss \(base 2\): ([-+0-9.eEinfa]+), Perplexity: ([-+0-9.eEinfa]+)")
EVALUATED = re.compile(r"Evaluated ([\d,]+) tokens")
# fairseq's MMapIndexedDataset index: magic, version <Q, dtype <B, length <Q, then int32 sizes
INDEX_MAGIC = b"MMIDIDX\x00\x00"
INDEX_HEADER = struct.Struct("<9sQBQ")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="evaluate-lm", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="configs/evaluate-wikitext103*.toml")
    parser.add_argument("--data", help="binarized data folder (fairseq-preprocess --only-source output)")
    parser.add_argument("--subsets", help="comma-separated splits to score (default: the config's)")
    evaluate.add_run_options(parser)
    parser.add_argument("--cpu", dest="device", action="store_const", const="cpu", help="--device cpu")
    recipe_config.add_set_option(parser, "context_window=0")
    return parse_with_passthrough(parser, argv)


def resolve(args):
    cfg = evaluate.resolve(args, FLAG_TABLE)
    recipe = cfg["recipe"]
    if args.subsets:
        recipe["subsets"] = [s for s in args.subsets.split(",") if s]
    if not recipe.get("subsets"):
        raise RecipeError("no subset to evaluate; pass --subsets valid,test")
    return cfg


def subset_tokens(data, subset):
    """Tokens in ``subset`` (end-of-line tokens included), from its mmap index;
    None where the folder holds another format (then nothing is checked)."""
    try:
        with open(os.path.join(data.split(os.pathsep)[0], f"{subset}.idx"), "rb") as handle:
            magic, _version, _dtype, length = INDEX_HEADER.unpack(handle.read(INDEX_HEADER.size))
            if magic != INDEX_MAGIC:
                return None
            sizes = handle.read(4 * length)
    except (OSError, struct.error):
        return None
    if len(sizes) != 4 * length:
        return None
    return sum(struct.unpack(f"<{length}i", sizes))


def parse_eval_lm(lines):
    """(loss base 2, perplexity, tokens scored) from fairseq-eval-lm's log lines."""
    result = evaluated = None
    for line in lines:
        match = RESULT.search(line)
        if match:
            result = float(match.group(1)), float(match.group(2))
        match = EVALUATED.search(line)
        if match:
            evaluated = int(match.group(1).replace(",", ""))
    if result is None or evaluated is None:
        return None
    return result[0], result[1], evaluated


def eval_lm(cfg, checkpoint, subset, workdir, extra):
    recipe = cfg["recipe"]
    command = [sys.executable, "-m", "fairseq_cli.eval_lm", recipe["data"], "--user-dir", PLUGIN_DIR]
    command += ["--path", checkpoint, "--gen-subset", subset]
    command += recipe_config.to_flags(cfg.get(FLAG_TABLE, {}))
    command += device_flags(recipe.get("device", "auto")) + list(extra)
    print("evaluate-lm: " + shlex.join(command), flush=True)
    log_path = os.path.join(workdir, f"eval-lm.{subset}.log")
    with open(log_path, "w", encoding="utf-8") as log:
        code = children.run(command, stdout=log, stderr=subprocess.STDOUT)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        lines = log.readlines()
    if code:
        tail = lines[-1].strip() if lines else "(no output)"
        raise RecipeError(f"fairseq-eval-lm failed with status {code}: {tail} (full log: {log_path})")
    parsed = parse_eval_lm(lines)
    if parsed is None:
        raise RecipeError(f"fairseq-eval-lm printed no perplexity; see {log_path}")
    loss, perplexity, evaluated = parsed
    expected = subset_tokens(recipe["data"], subset)
    if expected is not None and evaluated != expected:
        raise RecipeError(
            f"fairseq-eval-lm scored {evaluated:,} of the {expected:,} tokens of {subset!r} (it skips "
            "samples longer than the model's positions), so this is not the perplexity of the subset; "
            "use the [eval_lm] settings the model was trained for (tokens_per_sample, context_window, "
            f"sample_break_mode); log: {log_path}"
        )
    scores = {"perplexity": perplexity, "loss_base2": loss, "tokens": evaluated}
    return command, scores


@exits_cleanly("evaluate-lm")
def main(argv=None):
    args = parse_args(argv)
    cfg = resolve(args)
    recipe = cfg["recipe"]
    data, subsets = recipe["data"], list(recipe["subsets"])
    check_data_folder(data, subsets, recipe.get("prepare_hint", "pass --data DIR"))
    checkpoints = evaluate.checked_checkpoints(recipe)
    name = args.name or default_name(recipe, checkpoints)
    results_dir = recipe.get("results_dir", "results")
    partial, stamp = results_dirs.start(results_dir, name, "evaluate-lm")
    started = time.time()
    commands, scores = {}, {}
    with results_dirs.removed_if_interrupted(partial):
        checkpoint = evaluate.one_checkpoint(checkpoints, partial, "evaluate-lm")
        for subset in subsets:
            command, scores[subset] = eval_lm(cfg, checkpoint, subset, partial, args.extra)
            commands[subset] = shlex.join(command)
            print(f"evaluate-lm: {subset} perplexity {scores[subset]['perplexity']}", flush=True)
        if checkpoint.startswith(partial):
            os.remove(checkpoint)
    summary = {
        "name": name,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "data": os.path.abspath(data),
        "checkpoints": [os.path.abspath(p) for p in checkpoints],
        "averaged": len(checkpoints) > 1,
        "eval_lm": cfg.get(FLAG_TABLE, {}),
        "commands": commands,
        "perplexity": {subset: scores[subset]["perplexity"] for subset in subsets},
        **scores,
        "seconds": round(time.time() - started, 1),
    }
    final = results_dirs.publish_scores(partial, results_dir, name, stamp, summary)
    print(f"evaluate-lm: results in {final}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
