"""Fine-tune a pre-trained RoBERTa on one GLUE task, baseline or R-Drop, for
one or more seeds; the dev metric of every seed and their mean go into a
fresh results folder. Behind ``scripts/finetune-glue.sh``.

    python -m rdrop_recipes.finetune_glue TASK [--model roberta.large|roberta.base|PATH]
        [--model-archive FILE] [--offline] [--variant rdrop|baseline] [--seeds 1,2,3]
        [--data DIR] [--results-dir DIR] [--set key=value ...] [--device auto|cpu|cuda]
        [--dry-run] [-- extra fairseq-train flags]

Each seed runs ``fairseq-train --restore-file MODEL --reset-optimizer
--reset-dataloader --reset-meters`` with the config's settings for TASK
(configs/finetune-glue.toml). The metric of a seed is the best value over its
validations (what fairseq's ``best_<metric>`` tracks). The results folder is
built as ``.<name>.partial`` and renamed only once ``scores.json`` is complete.
"""

import argparse
import datetime
import json
import os
import re
import shlex
import statistics
import subprocess
import sys

from rdrop_recipes.config import recipe_config
from rdrop_recipes.config.command_line import parse_with_passthrough
from rdrop_recipes.downloads import pretrained
from rdrop_recipes.fairseq_io.checkpoint_files import check_checkpoint
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.train import detect_hardware, precision_flags

RECIPE_KEYS = ("metric",)  # task-table keys that are not fairseq flags
# json-format stats lines: "| <subset> | {...}"; every subset but training's is a validation
_STATS_LINE = re.compile(r"\| ([\w.-]+) \| (\{.*\})\s*$")
NOT_VALIDATION = ("train", "train_inner")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="finetune-glue", description=__doc__.splitlines()[0])
    parser.add_argument("task", metavar="TASK", help="CoLA, MRPC, RTE, SST-2, MNLI, QNLI, QQP or STS-B")
    parser.add_argument(
        "--config", default=recipe_config.default_config_path("finetune-glue"), help="recipe TOML"
    )
    parser.add_argument("--model", help="roberta.large | roberta.base | PATH to a model.pt (recipe.model)")
    parser.add_argument("--model-archive", help="the model's .tar.gz, already downloaded (offline machines)")
    parser.add_argument("--model-dir", help="where named models are downloaded to (recipe.model_dir)")
    parser.add_argument("--offline", action="store_true", help="never download")
    parser.add_argument("--variant", help="rdrop (default) | baseline")
    parser.add_argument("--seeds", help="comma-separated seeds, one run each (recipe.seeds)")
    parser.add_argument("--data", help="the task's binarized folder (default data-bin/glue/TASK-bin)")
    parser.add_argument("--results-dir")
    parser.add_argument("--name", help="results folder name (a timestamp is appended)")
    recipe_config.add_set_option(parser, "lr=2e-5")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))
    parser.add_argument("--cpu", dest="device", action="store_const", const="cpu", help="--device cpu")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    return parse_with_passthrough(parser, argv)


def parse_seeds(text):
    try:
        seeds = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise RecipeError(f"--seeds takes comma-separated integers, e.g. 1,2,3 (got {text!r})")
    return seeds


def resolve(args):
    """The config for this task and variant: [fairseq], then the task's table, then the
    variant, then --set (on the merged table, so `--set lr=...` reaches fairseq.lr)."""
    cfg = recipe_config.load(args.config)
    tasks = cfg.get("tasks", {})
    if args.task not in tasks:
        raise RecipeError(f"unknown GLUE task {args.task!r}; choose one of {', '.join(tasks)}")
    # task-table edits (--set tasks.RTE.x=...) first, everything else on the merged config
    early = [a for a in args.assignments if a.partition("=")[0].strip().startswith(("tasks.", "variants."))]
    cfg = recipe_config.apply_overrides(cfg, early, ("fairseq", "tasks", "variants"))
    recipe = cfg["recipe"]
    variant = args.variant or recipe.get("variant", "rdrop")
    variants = cfg.get("variants", {})
    if variant not in variants:
        raise RecipeError(f"unknown variant {variant!r}; choose one of {', '.join(variants)}")
    task_table = dict(cfg["tasks"][args.task])
    recipe["metric"] = task_table.pop("metric", "accuracy")
    fairseq = cfg["fairseq"]
    fairseq.update(task_table)
    fairseq.update(variants[variant])
    merged = {"recipe": recipe, "fairseq": fairseq}
    late = [a for a in args.assignments if a not in early]
    merged = recipe_config.apply_overrides(merged, late, ("fairseq",))
    recipe, fairseq = merged["recipe"], merged["fairseq"]
    fairseq.setdefault("total_num_update", fairseq.get("max_update"))
    recipe["variant"] = variant
    recipe["task"] = args.task
    for key in ("model", "model_dir", "results_dir", "device", "data"):
        value = getattr(args, key, None)
        if value is not None:
            recipe[key] = value
    recipe["data"] = str(recipe["data"]).format(task=args.task)
    recipe["seeds"] = (
        parse_seeds(args.seeds) if args.seeds else parse_seeds(",".join(map(str, recipe["seeds"])))
    )
    return merged


def check_data(data, fairseq):
    hint = "run scripts/prepare-glue.sh first or pass --data DIR"
    if not os.path.isfile(os.path.join(data, "input0", "dict.txt")):
        raise RecipeError(f"{data} is not a prepared GLUE task folder (no input0/dict.txt); {hint}")
    regression = bool(fairseq.get("regression_target"))
    labels = os.path.join(data, "label", "train.label" if regression else "dict.txt")
    if not os.path.isfile(labels):
        raise RecipeError(f"{data} lacks {os.path.relpath(labels, data)}; {hint}")


def train_command(cfg, model_path, arch, seed, run_dir, hardware, extra):
    recipe, fairseq = cfg["recipe"], dict(cfg["fairseq"])
    if arch and "arch" not in fairseq:
        fairseq["arch"] = arch
    if "arch" not in fairseq and "--arch" not in extra:
        raise RecipeError(
            "--model PATH needs its architecture: pass it after '--', e.g. -- --arch roberta_large"
        )
    fairseq["seed"] = seed
    command = [sys.executable, "-m", "fairseq_cli.train", recipe["data"], "--user-dir", PLUGIN_DIR]
    command += ["--restore-file", model_path, "--save-dir", os.path.join(run_dir, "checkpoints")]
    command += recipe_config.to_flags(fairseq)
    command += precision_flags(recipe.get("precision", "auto"), hardware)
    if "best_checkpoint_metric" not in fairseq:
        metric = recipe["metric"]
        command += ["--best-checkpoint-metric", metric]
        if metric != "loss":
            command.append("--maximize-best-checkpoint-metric")
    return command + list(extra)


def read_validations(lines, metric):
    """[(subset, num_updates, value)] of every validation line of a json-format log."""
    found = []
    for line in lines:
        match = _STATS_LINE.search(line)
        if not match or match.group(1) in NOT_VALIDATION:
            continue
        subset = match.group(1)
        try:
            stats = json.loads(match.group(2))
        except ValueError:  # fairseq also logs its config as a python dict after "| fairseq_cli.train |"
            continue
        value = stats.get(f"{subset}_{metric}")
        if value is not None:
            found.append((subset, int(float(stats.get(f"{subset}_num_updates", 0))), float(value)))
    return found


def run_seed(command, log_path):
    """fairseq-train with its output to the console and ``log_path``; its lines."""
    lines = []
    pipe = dict(stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1, errors="replace")
    with open(log_path, "w", encoding="utf-8") as log, children.started(command, **pipe) as proc:
        for line in proc.stdout:
            lines.append(line)
            log.write(line)
            if "| valid" in line or "| train |" in line or "error" in line.lower():
                sys.stdout.write(line)
                sys.stdout.flush()
    return proc.returncode, lines


_ERROR_LINE = re.compile(r"^(rdrop_fairseq: error:|[\w.]*(Error|Exception)\b|\w+\.py: error:)")


def failure_line(lines):
    """The line that says why fairseq-train stopped: the plugin's one-line error,
    argparse's, or the last exception of a traceback (only the log has the rest)."""
    for line in reversed(lines):
        if _ERROR_LINE.match(line):
            return line.strip()
    return None


@exits_cleanly("finetune-glue")
def main(argv=None):
    args = parse_args(argv)
    cfg = resolve(args)
    recipe, fairseq = cfg["recipe"], cfg["fairseq"]
    check_data(recipe["data"], fairseq)
    model_path, arch = pretrained.resolve(
        recipe["model"], recipe["model_dir"], args.model_archive, args.offline, args.dry_run
    )
    if not args.dry_run:
        check_checkpoint(model_path)
    hardware = detect_hardware(recipe.get("device", "auto"))
    name = args.name or f"glue-{args.task}-{recipe['variant']}"
    results_dir = recipe["results_dir"]
    stamp = results_dirs.new_stamp()
    partial = results_dirs.partial_path(results_dir, name, stamp)
    metric = recipe["metric"]
    if args.dry_run:
        for seed in recipe["seeds"]:
            run_dir = os.path.join(partial, f"seed{seed}")
            command = train_command(cfg, model_path, arch, seed, run_dir, hardware, args.extra)
            print("finetune-glue: " + shlex.join(command), flush=True)
        return 0
    partial, stamp = results_dirs.start(results_dir, name, "finetune-glue", stamp)
    seeds = {}
    for seed in recipe["seeds"]:
        run_dir = os.path.join(partial, f"seed{seed}")
        os.makedirs(run_dir)
        command = train_command(cfg, model_path, arch, seed, run_dir, hardware, args.extra)
        print(
            f"finetune-glue: {args.task} {recipe['variant']} seed {seed}: {shlex.join(command)}", flush=True
        )
        status, lines = run_seed(command, os.path.join(run_dir, "train.log"))
        if status != 0:
            cause = failure_line(lines) or "no error line; see the log"
            raise RecipeError(
                f"fairseq-train failed for seed {seed} with status {status} ({cause}); "
                f"log: {os.path.join(run_dir, 'train.log')}"
            )
        validations = read_validations(lines, metric)
        first_subset = [v for v in validations if v[0] == "valid"]
        if not first_subset:
            raise RecipeError(
                f"seed {seed}: no validation reported {metric!r} (log: {os.path.join(run_dir, 'train.log')}); "
                "the run may have ended before its first validation"
            )
        best = max(first_subset, key=lambda v: v[2])
        seeds[str(seed)] = {
            "best": best[2],
            "best_at_update": best[1],
            "last": first_subset[-1][2],
            # the other subsets (MNLI's mismatched dev as valid1, or a labelled test set) at that update
            "other_subsets_at_best": {s: v for s, u, v in validations if s != "valid" and u == best[1]},
            "validations": [{"subset": s, "num_updates": u, metric: v} for s, u, v in validations],
            "command": shlex.join(command),
        }
        print(f"finetune-glue: seed {seed}: dev {metric} {best[2]} (best of {len(first_subset)})", flush=True)
    values = [entry["best"] for entry in seeds.values()]
    summary = {
        "task": args.task,
        "variant": recipe["variant"],
        "metric": metric,
        "model": os.path.abspath(model_path),
        "data": os.path.abspath(recipe["data"]),
        "created": datetime.datetime.now().isoformat(timespec="seconds"),
        "seeds": seeds,
        "mean": round(statistics.fmean(values), 4),
        "stdev": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
    }
    final = results_dirs.publish_scores(partial, results_dir, name, stamp, summary)
    per_seed = ", ".join(f"{s}: {e['best']}" for s, e in seeds.items())
    print(f"finetune-glue: {args.task} dev {metric} per seed {per_seed}; mean {summary['mean']}", flush=True)
    print(f"finetune-glue: results in {final}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
