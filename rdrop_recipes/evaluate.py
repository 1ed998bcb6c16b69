"""Beam search on a test set and BLEU, into a fresh results folder per run.

    python -m rdrop_recipes.evaluate --config configs/evaluate-iwslt14.toml \
        [--checkpoint PATH|GLOB|DIR ...] [--average-last N] [--data DIR] [--name NAME]
        [--results-dir DIR] [--set key=value ...] [--device auto|cpu|cuda] [-- generate flags]

A run builds ``<results_dir>/.<name>-<timestamp>.partial/`` and renames it to
``<results_dir>/<name>-<timestamp>/`` only once ``scores.json`` is written, so
a folder without the leading dot and ``.partial`` is always a finished run;
a failed run keeps its partial folder (with generate.log) for inspection.
Nothing is ever appended to an earlier run's files.
"""

import argparse
import datetime
import glob
import os
import re
import shlex
import subprocess
import sys
import time

from rdrop_recipes.config import recipe_config
from rdrop_recipes.config.command_line import parse_with_passthrough
from rdrop_recipes.evaluation import scoring
from rdrop_recipes.fairseq_io.checkpoint_files import check_checkpoint
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.atomic_files import write_lines
from rdrop_recipes.folders.data_bin import check_data_folder
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly

from .average_checkpoints import (
    average_checkpoints,
    expand,
    last_checkpoints,
    oldest_to_newest,
    write_checkpoint,
)


def add_run_options(parser):
    """The options ``resolve`` reads besides --data and --set."""
    parser.add_argument("--checkpoint", nargs="+", help="file(s), glob(s) or folder; several are averaged")
    parser.add_argument("--average-last", type=int, help="average the N newest numbered checkpoints")
    parser.add_argument("--name", help="results folder name (a timestamp is appended)")
    parser.add_argument("--results-dir")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="evaluate", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="configs/evaluate-*.toml")
    parser.add_argument("--data", help="binarized data folder")
    add_run_options(parser)
    recipe_config.add_set_option(parser, "beam=4")
    parser.add_argument("--keep-averaged", action="store_true", help="keep averaged.pt in the results")
    return parse_with_passthrough(parser, argv)


def resolve(args, flag_table="generate"):
    """The config with the command line applied: ``--set`` into [recipe] or
    ``flag_table``, the named options into [recipe]."""
    cfg = recipe_config.apply_overrides(recipe_config.load(args.config), args.assignments, (flag_table,))
    recipe = cfg["recipe"]
    for key in ("data", "results_dir", "device", "name"):
        if getattr(args, key, None):
            recipe[key] = getattr(args, key)
    if args.checkpoint:
        recipe["checkpoints"] = args.checkpoint
    if args.average_last is not None:
        recipe["average_last"] = args.average_last
    return cfg


def resolve_checkpoints(specs, average_last):
    """The checkpoint files a run evaluates (several = average them)."""
    if isinstance(specs, str):
        specs = [specs]
    paths = []
    for spec in specs:
        if os.path.isdir(spec):
            if average_last:
                paths += last_checkpoints(spec, average_last)
            else:
                best = os.path.join(spec, "checkpoint_best.pt")
                if not os.path.isfile(best):
                    raise RecipeError(
                        f"{spec!r} has no checkpoint_best.pt; pass a checkpoint file or --average-last N"
                    )
                paths.append(best)
        elif glob.has_magic(spec):
            paths += expand([spec])
        elif not os.path.isfile(spec):
            raise RecipeError(
                f"checkpoint {spec!r} not found; train first (scripts/train-*.sh) or pass --checkpoint PATH"
            )
        else:
            paths.append(spec)
    paths = oldest_to_newest(list(dict.fromkeys(paths)))
    if average_last and len(paths) > average_last:
        paths = paths[-average_last:]
    return paths


def checked_checkpoints(recipe):
    """The checkpoint files [recipe] names, each checked before fairseq reads it."""
    average_last = int(recipe.get("average_last") or 0)
    if average_last < 0:
        raise RecipeError(f"--average-last must be >= 0 (got {recipe['average_last']})")
    checkpoints = resolve_checkpoints(recipe["checkpoints"], average_last)
    for path in checkpoints:
        check_checkpoint(path)
    return checkpoints


def one_checkpoint(checkpoints, folder, prog):
    """The checkpoint to evaluate: the only one, or the average of several
    written into ``folder`` as averaged.pt."""
    if len(checkpoints) == 1:
        return checkpoints[0]
    print(f"{prog}: averaging {len(checkpoints)} checkpoints: {', '.join(checkpoints)}", flush=True)
    averaged = os.path.join(folder, "averaged.pt")
    write_checkpoint(average_checkpoints(checkpoints), averaged)
    return averaged


def default_name(recipe, checkpoints):
    run = os.path.basename(os.path.dirname(os.path.abspath(checkpoints[-1]))) or recipe.get("name", "eval")
    suffix = f"-avg{len(checkpoints)}" if len(checkpoints) > 1 else ""
    if len(checkpoints) == 1:
        suffix = "-" + os.path.splitext(os.path.basename(checkpoints[0]))[0].replace("checkpoint_", "")
    return f"{run}{suffix}"


def device_flags(device):
    if device == "cpu":
        return ["--cpu"]
    if device == "auto":
        import torch

        return [] if torch.cuda.is_available() else ["--cpu"]
    return []


def generate(cfg, checkpoint, workdir, extra):
    recipe = cfg["recipe"]
    command = [
        sys.executable,
        "-m",
        "fairseq_cli.generate",
        recipe["data"],
        "--user-dir",
        PLUGIN_DIR,
        "--path",
        checkpoint,
    ]
    command += recipe_config.to_flags(cfg.get("generate", {}))
    command += device_flags(recipe.get("device", "auto")) + list(extra)
    print("evaluate: " + shlex.join(command), flush=True)
    log_path = os.path.join(workdir, "generate.log")
    with open(log_path, "w", encoding="utf-8") as log:
        code = children.run(command, stdout=log, stderr=subprocess.STDOUT)
    with open(log_path, encoding="utf-8") as log:
        lines = log.readlines()
    if code:
        tail = lines[-1].strip() if lines else "(no output)"
        raise RecipeError(
            f"fairseq-generate failed with status {code}: {tail}{plugin_hint(lines)} (full log: {log_path})"
        )
    return command, lines


def plugin_hint(lines):
    """What to pass when fairseq could not build the plugin's task or criterion."""
    names = ("rdrop_translation", "reg_label_smoothed_cross_entropy")
    missing = any(
        name in line and ("KeyError" in line or "not found" in line) for line in lines for name in names
    )
    if missing or any("WeightsUnpickler error" in line for line in lines):
        return (
            f"; the checkpoint was trained with the R-Drop plugin: every fairseq command that "
            f"loads it needs --user-dir {PLUGIN_DIR}"
        )
    return ""


def score(cfg, lines, workdir):
    recipe, gen = cfg["recipe"], cfg.get("generate", {})
    try:
        hyps, refs = scoring.read_generate_output(lines)
    except ValueError as err:
        raise RecipeError(f"cannot read fairseq-generate output: {err}") from None
    if not hyps:
        raise RecipeError(
            f"fairseq-generate printed no hypotheses; see {os.path.join(workdir, 'generate.log')}"
        )
    write_lines(os.path.join(workdir, "hypotheses.txt"), hyps)
    write_lines(os.path.join(workdir, "references.txt"), refs)
    scores = {"sentences": len(hyps)}
    lowercase = bool(recipe.get("lowercase", False))
    if recipe.get("compound_split"):
        hyps_cs = [scoring.compound_split(h) for h in hyps]
        refs_cs = [scoring.compound_split(r) for r in refs]
        write_lines(os.path.join(workdir, "hypotheses.compound-split.txt"), hyps_cs)
        write_lines(os.path.join(workdir, "references.compound-split.txt"), refs_cs)
        scores["bleu"] = scoring.tokenized_bleu(hyps_cs, refs_cs, lowercase)
        scores["bleu"]["kind"] = "tokenized BLEU with compound splitting" + (
            ", lowercased" if lowercase else ""
        )
    else:
        scores["bleu"] = scoring.tokenized_bleu(hyps, refs, lowercase)
        scores["bleu"]["kind"] = "tokenized BLEU" + (", lowercased" if lowercase else "")
    if recipe.get("sacrebleu"):
        lang = gen.get("target_lang") or "en"
        hyps_detok = scoring.detokenize(hyps, lang)
        if recipe.get("raw_reference"):
            with open(recipe["raw_reference"], encoding="utf-8") as f:
                refs_detok = [line.rstrip("\n") for line in f]
            if len(refs_detok) != len(hyps):
                raise RecipeError(f"raw_reference has {len(refs_detok)} lines, the test set {len(hyps)}")
            reference_kind = "raw reference file"
        else:
            refs_detok = scoring.detokenize(refs, lang)
            reference_kind = "detokenized T- lines"
        write_lines(os.path.join(workdir, "hypotheses.detok.txt"), hyps_detok)
        write_lines(os.path.join(workdir, "references.detok.txt"), refs_detok)
        scores["sacrebleu"] = scoring.detok_sacrebleu(hyps_detok, refs_detok)
        scores["sacrebleu"]["reference"] = reference_kind
    expected = subset_size(lines, gen.get("gen_subset", "test"))
    if expected is not None and expected != len(hyps):
        raise RecipeError(
            f"fairseq-generate translated {len(hyps)} of {expected} sentences, so BLEU would not be "
            "the test-set BLEU; keep required_batch_size_multiple = 1 (fairseq#5036) and do not skip inputs"
        )
    reported = [line.strip() for line in lines if "BLEU4 = " in line]
    if reported:
        scores["fairseq_reported"] = reported[-1].split("| ")[-1]
    return scores


def subset_size(lines, subset):
    """Sentences in the evaluated split, from fairseq's "loaded N examples from: .../test.x-y.x"."""
    pattern = re.compile(r"loaded ([\d,]+) examples from: .*[/\\]" + re.escape(subset) + r"\.")
    for line in lines:
        match = pattern.search(line)
        if match:
            return int(match.group(1).replace(",", ""))
    return None


@exits_cleanly("evaluate")
def main(argv=None):
    args = parse_args(argv)
    cfg = resolve(args)
    recipe = cfg["recipe"]
    data, gen = recipe["data"], cfg.get("generate", {})
    check_data_folder(
        data,
        [gen.get("gen_subset") or "test"],
        recipe.get("prepare_hint", "pass --data DIR"),
        gen.get("source_lang"),
        gen.get("target_lang"),
    )
    checkpoints = checked_checkpoints(recipe)
    if recipe.get("raw_reference") and not os.path.isfile(recipe["raw_reference"]):
        raise RecipeError(
            f"raw_reference {recipe['raw_reference']!r} not found; fix --set raw_reference=FILE"
        )
    name = args.name or default_name(recipe, checkpoints)
    results_dir = recipe.get("results_dir", "results")
    partial, stamp = results_dirs.start(results_dir, name, "evaluate")
    started = time.time()
    with results_dirs.removed_if_interrupted(partial):
        checkpoint = one_checkpoint(checkpoints, partial, "evaluate")
        command, lines = generate(cfg, checkpoint, partial, args.extra)
        if checkpoint.startswith(partial) and not args.keep_averaged:
            os.remove(checkpoint)
        scores = score(cfg, lines, partial)
    summary = {
        "name": name,
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "data": os.path.abspath(data),
        "subset": cfg.get("generate", {}).get("gen_subset", "test"),
        "checkpoints": [os.path.abspath(p) for p in checkpoints],
        "averaged": len(checkpoints) > 1,
        "generate": cfg.get("generate", {}),
        "command": shlex.join(command),
        **scores,
        "seconds": round(time.time() - started, 1),
    }
    final = results_dirs.publish_scores(partial, results_dir, name, stamp, summary)
    print(f"evaluate: {scores['bleu']['kind']}: {scores['bleu']['score']}", flush=True)
    if "sacrebleu" in scores:
        print(
            f"evaluate: sacreBLEU (detokenized): {scores['sacrebleu']['score']} "
            f"{scores['sacrebleu']['signature']}",
            flush=True,
        )
    print(f"evaluate: results in {final}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
