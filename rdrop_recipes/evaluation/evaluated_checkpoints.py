"""What the checkpoint evaluations (BLEU, perplexity) share: their command line, which
checkpoint they read ([recipe] ``checkpoints``, ``average_last``; several averaged into one),
the fairseq command run on it and the results folder their scores go to."""

import glob
import os
import shlex
import subprocess
import sys
import time

from rdrop_recipes.config import recipe_config
from rdrop_recipes.evaluation.checkpoint_averaging import average_checkpoints, write_checkpoint
from rdrop_recipes.fairseq_io.checkpoint_files import (
    check_checkpoint,
    expand,
    last_checkpoints,
    oldest_to_newest,
)
from rdrop_recipes.fairseq_io.log_lines import last_line, misses_the_plugin
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training.hardware import add_device_options, detect_hardware

# what fairseq cannot build from an R-Drop checkpoint without the plugin
PLUGIN_NAMES = ("rdrop_translation", "reg_label_smoothed_cross_entropy")


def add_run_options(parser):
    """The options ``evaluation_config`` reads besides --config, --data and --set."""
    parser.add_argument("--checkpoint", nargs="+", help="file(s), glob(s) or folder; several are averaged")
    parser.add_argument(
        "--average-last", type=recipe_config.at_least(0), help="average the N newest numbered checkpoints"
    )
    parser.add_argument("--name", help="results folder name (a timestamp is appended)")
    parser.add_argument("--results-dir")
    add_device_options(parser)


def evaluation_config(args, flag_table):
    """The config with ``--set`` into [recipe] or ``flag_table``, the named options into [recipe]."""
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
    # average_last: declared (config/declarations.py) and --average-last's type, both >= 0
    checkpoints = resolve_checkpoints(recipe["checkpoints"], recipe.get("average_last") or 0)
    for path in checkpoints:
        check_checkpoint(path)
    return checkpoints


def scored_into_results(cfg, checkpoints, name, prog, score, keep_averaged=False):
    """``score(checkpoint, folder)`` (scores.json's own entries) in a fresh results folder, on the
    only checkpoint or on the average of several written there as averaged.pt (removed after
    scoring unless ``keep_averaged``); the finished results folder."""
    recipe = cfg["recipe"]
    if not name:
        # the run's save dir, then which checkpoint: iwslt14-rdrop-best, iwslt14-rdrop-avg5
        run = os.path.basename(os.path.dirname(os.path.abspath(checkpoints[-1]))) or recipe.get(
            "name", "eval"
        )
        which = os.path.splitext(os.path.basename(checkpoints[0]))[0].replace("checkpoint_", "")
        name = f"{run}-avg{len(checkpoints)}" if len(checkpoints) > 1 else f"{run}-{which}"
    results_dir = recipe.get("results_dir", "results")
    partial, stamp = results_dirs.start(results_dir, name, prog)
    started = time.time()
    with results_dirs.removed_if_interrupted(partial):
        checkpoint = checkpoints[0]
        if len(checkpoints) > 1:
            print(f"{prog}: averaging {len(checkpoints)} checkpoints: {', '.join(checkpoints)}", flush=True)
            checkpoint = os.path.join(partial, "averaged.pt")
            write_checkpoint(average_checkpoints(checkpoints), checkpoint)
        scores = score(checkpoint, partial)
        if len(checkpoints) > 1 and not keep_averaged:
            os.remove(checkpoint)
    summary = {
        "name": name,
        "created": results_dirs.now(),
        "data": os.path.abspath(recipe["data"]),
        "checkpoints": [os.path.abspath(p) for p in checkpoints],
        "averaged": len(checkpoints) > 1,
        **scores,
        "seconds": round(time.time() - started, 1),
    }
    final = results_dirs.publish_scores(partial, results_dir, name, stamp, summary)
    print(f"{prog}: results in {final}", flush=True)
    return final


def run_on_checkpoint(cfg, tool, checkpoint, flags, extra, log_path, prog, hint=None):
    """(command, output lines) of ``fairseq-<tool> DATA --user-dir PLUGIN --path CHECKPOINT
    FLAGS [<tool>] EXTRA``, run into ``log_path`` (fairseq builds the task from its command line:
    whatever loads an R-Drop checkpoint needs --user-dir). A failure: fairseq's last line and
    ``hint(lines)``."""
    recipe = cfg["recipe"]
    command = [sys.executable, "-m", f"fairseq_cli.{tool}", recipe["data"], "--user-dir", PLUGIN_DIR]
    command += ["--path", checkpoint, *flags, *recipe_config.to_flags(cfg.get(tool, {}))]
    on_cpu = detect_hardware(recipe.get("device", "auto")).device == "cpu"
    command += (["--cpu"] if on_cpu else []) + list(extra)
    print(f"{prog}: " + shlex.join(command), flush=True)
    with open(log_path, "w", encoding="utf-8") as log:
        code = children.run(command, stdout=log, stderr=subprocess.STDOUT)
    with open(log_path, encoding="utf-8", errors="replace") as log:
        lines = log.readlines()
    if code:
        advice = hint(lines) if hint else ""
        raise RecipeError(
            f"fairseq-{tool.replace('_', '-')} failed with status {code}: {last_line(lines)}{advice} "
            f"(full log: {log_path})"
        )
    return command, lines


def generate(cfg, checkpoint, workdir, extra):
    """(command, output lines) of fairseq-generate on ``checkpoint``, logged in ``workdir/generate.log``."""
    log_path = os.path.join(workdir, "generate.log")
    return run_on_checkpoint(cfg, "generate", checkpoint, (), extra, log_path, "evaluate", plugin_hint)


def plugin_hint(lines):
    if misses_the_plugin(lines, PLUGIN_NAMES):
        return (
            f"; the checkpoint was trained with the R-Drop plugin: every fairseq command that "
            f"loads it needs --user-dir {PLUGIN_DIR}"
        )
    return ""
