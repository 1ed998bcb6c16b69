"""Fine-tuning a pre-trained RoBERTa on one GLUE task, one run per seed, through the
training plan: the config is resolved by :func:`plan.resolve` (the task's table, then
the variant, then ``--set``), each seed's command is :func:`plan.fairseq_train_args`
(flags, precision, TensorBoard) and each run goes through :func:`launch.run_logged`.

What is GLUE's own: the task's table (configs/finetune-glue.toml ``[tasks.NAME]``), the
restored model with fresh optimizer, data loader and meters, a save dir per seed inside
a fresh results folder, and the dev metric of each seed read from its json log (the best
over its validations, what fairseq's ``best_<metric>`` tracks) into ``scores.json``.
"""

import datetime
import os
import shlex
import statistics

from rdrop_recipes.config import recipe_config
from rdrop_recipes.downloads import pretrained
from rdrop_recipes.fairseq_io.checkpoint_files import check_checkpoint
from rdrop_recipes.fairseq_io.log_lines import failure_line, read_validations, reports_progress
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training import launch
from rdrop_recipes.training import plan as training_plan
from rdrop_recipes.training.hardware import detect_hardware

PROG = "finetune-glue"
LOG_NAME = "train.log"  # each seed's console copy, in its run folder


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
    variant, then --set (so `--set lr=...` reaches fairseq.lr), then the flags."""
    loaded = recipe_config.load(args.config)
    tasks = loaded.get("tasks", {})
    if args.task not in tasks:
        raise RecipeError(f"unknown GLUE task {args.task!r}; choose one of {', '.join(tasks)}")
    cfg = training_plan.resolve(args, task=args.task, loaded=loaded).config
    recipe, fairseq = cfg["recipe"], cfg["fairseq"]
    # the polynomial decay reaches 0 at the last update, also after a --set max_update
    fairseq.setdefault("total_num_update", fairseq.get("max_update"))
    recipe["task"] = args.task
    for key in ("model", "model_dir", "results_dir"):
        value = getattr(args, key, None)
        if value is not None:
            recipe[key] = value
    recipe["data"] = str(recipe["data"]).format(task=args.task)
    recipe["seeds"] = parse_seeds(args.seeds or ",".join(map(str, recipe["seeds"])))
    return cfg


def check_data(data, fairseq):
    hint = "run scripts/prepare-glue.sh first or pass --data DIR"
    if not os.path.isfile(os.path.join(data, "input0", "dict.txt")):
        raise RecipeError(f"{data} is not a prepared GLUE task folder (no input0/dict.txt); {hint}")
    regression = bool(fairseq.get("regression_target"))
    labels = os.path.join(data, "label", "train.label" if regression else "dict.txt")
    if not os.path.isfile(labels):
        raise RecipeError(f"{data} lacks {os.path.relpath(labels, data)}; {hint}")


def seed_command(cfg, model_path, arch, seed, run_dir, hardware, extra):
    """fairseq-train for one seed: the plan's command, restoring ``model_path``, saving
    into ``run_dir``/checkpoints, the best checkpoint by the task's dev metric."""
    fairseq = dict(cfg["fairseq"])
    if arch and "arch" not in fairseq:
        fairseq["arch"] = arch
    if "arch" not in fairseq and "--arch" not in extra:
        raise RecipeError(
            "--model PATH needs its architecture: pass it after '--', e.g. -- --arch roberta_large"
        )
    fairseq["restore_file"] = model_path
    fairseq["seed"] = seed
    if "best_checkpoint_metric" not in fairseq:
        metric = cfg["recipe"]["metric"]
        fairseq["best_checkpoint_metric"] = metric
        fairseq["maximize_best_checkpoint_metric"] = metric != "loss"
    save_dir = os.path.join(run_dir, "checkpoints")
    arguments = training_plan.fairseq_train_args({**cfg, "fairseq": fairseq}, save_dir, hardware)
    return training_plan.one_process(arguments, extra)


def _shown(line):
    # the console shows the validations, the epochs and anything about an error; the log all
    return reports_progress(line) or "error" in line.lower()


def run_seed(command, log_path):
    """fairseq-train with its output to ``log_path`` (and its progress to the console): its
    exit status and the log's lines."""
    status, _ = launch.run_logged(command, log_path, echo=_shown)
    with open(log_path, encoding="utf-8") as log:
        return status, log.readlines()


def seed_scores(lines, metric, seed, log_path):
    """The scores.json entry of one seed (its ``command`` added by the caller)."""
    validations = read_validations(lines, metric)
    first_subset = [v for v in validations if v[0] == "valid"]
    if not first_subset:
        raise RecipeError(
            f"seed {seed}: no validation reported {metric!r} (log: {log_path}); "
            "the run may have ended before its first validation"
        )
    best = max(first_subset, key=lambda v: v[2])
    return {
        "best": best[2],
        "best_at_update": best[1],
        "last": first_subset[-1][2],
        # the other subsets (MNLI's mismatched dev as valid1, or a labelled test set) at that update
        "other_subsets_at_best": {s: v for s, u, v in validations if s != "valid" and u == best[1]},
        "validations": [{"subset": s, "num_updates": u, metric: v} for s, u, v in validations],
    }


def finetune(args):
    """``finetune-glue``'s arguments carried out: every seed, then scores.json."""
    cfg = resolve(args)
    recipe = cfg["recipe"]
    check_data(recipe["data"], cfg["fairseq"])
    model_path, arch = pretrained.resolve(
        recipe["model"], recipe["model_dir"], args.model_archive, args.offline, args.dry_run
    )
    if not args.dry_run:
        check_checkpoint(model_path)
    hardware = detect_hardware(recipe.get("device", "auto"))
    name = args.name or f"glue-{args.task}-{recipe['variant']}"
    results_dir, metric = recipe["results_dir"], recipe["metric"]
    stamp = results_dirs.new_stamp()
    if args.dry_run:
        partial = results_dirs.partial_path(results_dir, name, stamp)
        for seed in recipe["seeds"]:
            run_dir = os.path.join(partial, f"seed{seed}")
            command = seed_command(cfg, model_path, arch, seed, run_dir, hardware, args.extra)
            print(f"{PROG}: " + shlex.join(command), flush=True)
        return 0
    partial, stamp = results_dirs.start(results_dir, name, PROG, stamp)
    seeds = {}
    for seed in recipe["seeds"]:
        run_dir = os.path.join(partial, f"seed{seed}")
        os.makedirs(run_dir)
        command = seed_command(cfg, model_path, arch, seed, run_dir, hardware, args.extra)
        print(f"{PROG}: {args.task} {recipe['variant']} seed {seed}: {shlex.join(command)}", flush=True)
        log_path = os.path.join(run_dir, LOG_NAME)
        status, lines = run_seed(command, log_path)
        if status != 0:
            cause = failure_line(lines) or "no error line; see the log"
            raise RecipeError(
                f"fairseq-train failed for seed {seed} with status {status} ({cause}); log: {log_path}"
            )
        seeds[str(seed)] = {**seed_scores(lines, metric, seed, log_path), "command": shlex.join(command)}
        run = seeds[str(seed)]
        validated = sum(v["subset"] == "valid" for v in run["validations"])
        print(f"{PROG}: seed {seed}: dev {metric} {run['best']} (best of {validated})", flush=True)
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
    print(f"{PROG}: {args.task} dev {metric} per seed {per_seed}; mean {summary['mean']}", flush=True)
    print(f"{PROG}: results in {final}", flush=True)
    return 0
