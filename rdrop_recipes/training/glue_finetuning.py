"""Fine-tuning a pre-trained RoBERTa on one GLUE task, one run per seed in a fresh results folder,
each seed's best dev metric (what fairseq's ``best_<metric>`` tracks) into ``scores.json``; or a
SLURM job array of the seeds (:func:`write_job`), whose logs ``--collect`` scores (:func:`collect`)."""

import os
import shlex
import statistics

from rdrop_recipes.config import declarations
from rdrop_recipes.config.recipe_config import passed_value
from rdrop_recipes.downloads import pretrained
from rdrop_recipes.fairseq_io.checkpoint_files import check_checkpoint
from rdrop_recipes.fairseq_io.log_lines import (
    failure_line,
    finished_training,
    read_validations,
    reports_progress,
)
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.atomic_files import read_json, write_json
from rdrop_recipes.folders.markers import GLUE_JOB, PREPARE_CONFIG, SCORES
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training import launch, slurm
from rdrop_recipes.training import plan as training_plan
from rdrop_recipes.training.hardware import Hardware, detect_hardware

PROG = "finetune-glue"
LOG_NAME = "train.log"  # each seed's console copy, in its run folder
JOB_SCRIPT = "finetune.sbatch"  # a SLURM job's script, in its results folder


def resolve(args):
    """The config for this task and variant (training/plan.py's order)."""
    cfg = training_plan.resolve(args, task=args.task).config
    recipe, fairseq = cfg["recipe"], cfg["fairseq"]
    # the polynomial decay reaches 0 at the last update, also after a --set max_update
    fairseq.setdefault("total_num_update", fairseq.get("max_update"))
    recipe["task"] = args.task
    for key in ("model", "model_dir", "results_dir"):
        value = getattr(args, key, None)
        if value is not None:
            recipe[key] = value
    recipe["data"] = str(recipe["data"]).format(task=args.task)
    recipe["seeds"] = declarations.parse_seeds(args.seeds or ",".join(map(str, recipe["seeds"])))
    return cfg


def label_classes(path):
    """The classes of a label dictionary, without fairseq-preprocess's madeupwordNNNN padding."""
    with open(path, encoding="utf-8") as handle:
        words = [line.split()[0] for line in handle if line.strip()]
    return [word for word in words if not (word.startswith("madeupword") and word[10:].isdigit())]


def check_data(data, fairseq, task, extra=()):
    """``data`` is a prepared folder of ``task`` whose labels fit the head: a classifier of
    exactly its classes (more would train classes that never occur, silently), or one output
    for regression scores."""
    hint = "run scripts/prepare-glue.sh first or pass --data DIR"
    if not os.path.isfile(os.path.join(data, "input0", "dict.txt")):
        raise RecipeError(f"{data} is not a prepared GLUE task folder (no input0/dict.txt); {hint}")
    stamp = read_json(os.path.join(data, PREPARE_CONFIG))
    prepared_for = stamp.get("task", {}).get("name") if isinstance(stamp, dict) else None
    if prepared_for and prepared_for != task:
        raise RecipeError(
            f"--data {data} was prepared for {prepared_for}, not {task}: pass {task}'s folder "
            f"(scripts/prepare-glue.sh {task} makes data-bin/glue/{task}-bin) or fine-tune {prepared_for}"
        )
    regression = bool(fairseq.get("regression_target")) or "--regression-target" in extra
    scores = os.path.isfile(os.path.join(data, "label", "train.label"))
    class_dict = os.path.join(data, "label", "dict.txt")
    if regression and not scores and os.path.isfile(class_dict):
        raise RecipeError(
            f"{data} lacks label/train.label, the scores a regression head trains on: it holds class "
            f"labels (label/dict.txt), a classification task's; the settings for {task} train a "
            "regression head (regression_target): pass a regression task's folder "
            "(data-bin/glue/STS-B-bin), or drop regression_target"
        )
    if not regression and not os.path.isfile(class_dict) and scores:
        raise RecipeError(
            f"{data} lacks label/dict.txt, the classes a classifier trains on: it holds similarity "
            f"scores (label/train.label), STS-B's; the settings for {task} train a classifier: pass "
            f"{task}'s folder (data-bin/glue/{task}-bin), or fine-tune STS-B on it"
        )
    labels = os.path.join(data, "label", "train.label" if regression else "dict.txt")
    if not os.path.isfile(labels):
        raise RecipeError(f"{data} lacks {os.path.relpath(labels, data)}; {hint}")
    heads = passed_value(extra, "--num-classes", fairseq.get("num_classes"))
    passed = any(arg == "--num-classes" or arg.startswith("--num-classes=") for arg in extra)
    given = "'-- --num-classes'" if passed else "num_classes"
    classes = [] if regression else label_classes(labels)
    wanted = 1 if regression else len(classes)
    # an empty dictionary is none fairseq-preprocess writes (the plugin refuses it): no count
    if (regression or classes) and str(heads) != str(wanted):
        what = f"{data} has {wanted} classes ({', '.join(classes)})"
        if regression:
            what = "a regression head has one output"
        raise RecipeError(
            f"{given} is {heads}, but {what}: fix it with --set num_classes={wanted}"
            + (" (and drop the '--num-classes' after '--')" if passed else "")
        )


def seed_command(cfg, model_path, arch, seed, run_dir, hardware, extra):
    """fairseq-train for one seed, restoring ``model_path``, saving into ``run_dir``/checkpoints."""
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


def run_seed(command, log_path):
    """fairseq-train logged to ``log_path``: its exit status and the log's lines."""
    # the console shows the validations, the epochs and anything about an error; the log all
    shown = lambda line: reports_progress(line) or "error" in line.lower()
    status, _ = launch.run_logged(command, log_path, echo=shown)
    with open(log_path, encoding="utf-8") as log:
        return status, log.readlines()


def seed_scores(lines, metric, seed, log_path, hint="the run may have ended before its first validation"):
    """The scores.json entry of one seed (its ``command`` added by the caller)."""
    validations = read_validations(lines, metric)
    first_subset = [v for v in validations if v[0] == "valid"]
    if not first_subset:
        raise RecipeError(f"seed {seed}: no validation reported {metric!r} (log: {log_path}); {hint}")
    best = max(first_subset, key=lambda v: v[2])
    return {
        "best": best[2],
        "best_at_update": best[1],
        "last": first_subset[-1][2],
        # the other subsets (MNLI's mismatched dev as valid1, or a labelled test set) at that update
        "other_subsets_at_best": {s: v for s, u, v in validations if s != "valid" and u == best[1]},
        "validations": [{"subset": s, "num_updates": u, metric: v} for s, u, v in validations],
    }


def summarize(task, variant, metric, model, data, seeds):
    """scores.json of a run: ``seeds`` ({seed: seed_scores + command}), their mean and stdev."""
    values = [entry["best"] for entry in seeds.values()]
    return {
        "task": task,
        "variant": variant,
        "metric": metric,
        "model": model,
        "data": data,
        "created": results_dirs.now(),
        "seeds": seeds,
        "mean": round(statistics.fmean(values), 4),
        "stdev": round(statistics.stdev(values), 4) if len(values) > 1 else 0.0,
    }


def report(summary, folder):
    per_seed = ", ".join(f"{s}: {e['best']}" for s, e in summary["seeds"].items())
    print(
        f"{PROG}: {summary['task']} dev {summary['metric']} per seed {per_seed}; mean {summary['mean']}",
        flush=True,
    )
    print(f"{PROG}: results in {folder}", flush=True)


def finetune(args):
    if args.collect:
        return collect(args.collect, args.task)
    if args.task is None:
        raise RecipeError("give TASK (CoLA, MRPC, RTE, SST-2, MNLI, QNLI, QQP or STS-B), or --collect FOLDER")
    cfg = resolve(args)
    recipe = cfg["recipe"]
    on_slurm = slurm.requested(args)
    if on_slurm:
        slurm.check_args(args, cfg)
    elif args.gpus_per_node is not None:
        raise RecipeError("--gpus-per-node goes with --slurm-nodes; here each seed trains on one GPU")
    check_data(recipe["data"], cfg["fairseq"], args.task, args.extra)
    model_path, arch = pretrained.resolve(
        recipe["model"], recipe["model_dir"], args.model_archive, args.offline, args.dry_run
    )
    if not args.dry_run:
        check_checkpoint(model_path)
    name = args.name or f"glue-{args.task}-{recipe['variant']}"
    if on_slurm:
        return write_job(args, cfg, model_path, arch, name)
    hardware = detect_hardware(recipe.get("device", "auto"))
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
        run = {**seed_scores(lines, metric, seed, log_path), "command": shlex.join(command)}
        seeds[str(seed)] = run
        validated = sum(v["subset"] == "valid" for v in run["validations"])
        print(f"{PROG}: seed {seed}: dev {metric} {run['best']} (best of {validated})", flush=True)
    model, data = os.path.abspath(model_path), os.path.abspath(recipe["data"])
    summary = summarize(args.task, recipe["variant"], metric, model, data, seeds)
    report(summary, results_dirs.publish_scores(partial, results_dir, name, stamp, summary))
    return 0


def write_job(args, cfg, model_path, arch, name):
    """``--slurm-nodes 1 --gpus-per-node 1``: a visible results folder ``<name>-<stamp>`` holding
    the sbatch script (a job array, one task per seed, each the seed's command of the local run
    into ``seed<N>/train.log``), the seed folders and :data:`GLUE_JOB` (what ``--collect`` reads);
    no scores.json, so it is no finished run until collected."""
    recipe = cfg["recipe"]
    cfg, runtime_precision = slurm.decided_on_the_node(cfg)
    results_dir = recipe["results_dir"]
    stamp = results_dirs.new_stamp()
    if args.dry_run:
        folder = os.path.join(results_dir, f"{name}-{stamp}")
    else:
        folder = results_dirs.publish(None, results_dir, name, stamp)
    folder = os.path.abspath(folder)
    path = os.path.join(folder, JOB_SCRIPT)
    try:
        # the commands hold the folder's final name, so it is made first; a refused command
        # or script leaves it as it was, empty: removed
        seeds, commands = [], {}
        for seed in recipe["seeds"]:
            run_dir = os.path.join(folder, f"seed{seed}")
            command = seed_command(cfg, model_path, arch, seed, run_dir, Hardware("cuda", 1), args.extra)
            commands[str(seed)] = slurm.shell_command(command, args.extra, runtime_precision, 1)
            seeds.append((seed, commands[str(seed)], os.path.join(run_dir, LOG_NAME)))
        workers = f"{len(seeds)} seed(s), one array task of {args.gpus_per_node} GPU each"
        log = os.path.join(folder, "slurm-%A_%a.out")
        script = slurm.render(
            args,
            f"glue-{args.task}",
            recipe["variant"],
            workers,
            log,
            path,
            runtime_precision,
            slurm.seed_array(seeds),
            array=len(seeds),
        )
    except RecipeError:
        if not args.dry_run:
            os.rmdir(folder)
        raise
    if not args.dry_run:
        for seed in recipe["seeds"]:
            os.makedirs(os.path.join(folder, f"seed{seed}"))
        job = {
            "task": args.task,
            "variant": recipe["variant"],
            "metric": recipe["metric"],
            "model": os.path.abspath(model_path),
            "data": os.path.abspath(recipe["data"]),
            "script": path,
            "seeds": commands,
        }
        write_json(os.path.join(folder, GLUE_JOB), job)
    slurm.write_job(PROG, args, path, script, f"logs in {folder}/seed<N>/{LOG_NAME}")
    if not args.dry_run:
        print(
            f"{PROG}: once the job is done: scripts/finetune-glue.sh --collect {shlex.quote(folder)}",
            flush=True,
        )
    return 0


def collect(folder, task=None):
    """``--collect FOLDER``: a SLURM job's scores.json from its seeds' logs, once every seed's
    fairseq-train has finished; the same keys as a local run's."""
    job = read_json(os.path.join(folder, GLUE_JOB))
    if not isinstance(job, dict) or not isinstance(job.get("seeds"), dict) or not job["seeds"]:
        raise RecipeError(
            f"--collect {folder}: no {GLUE_JOB} there, so no folder that finetune-glue --slurm-nodes "
            "wrote; give that folder (results/glue-TASK-VARIANT-STAMP)"
        )
    if task is not None and task != job["task"]:
        raise RecipeError(f"--collect {folder} holds a {job['task']} job, not {task}; drop TASK")
    metric, script = job["metric"], job.get("script", os.path.join(folder, JOB_SCRIPT))
    seeds = {}
    for index, (seed, command) in enumerate(job["seeds"].items()):
        log_path = os.path.join(folder, f"seed{seed}", LOG_NAME)
        lines = []
        if os.path.isfile(log_path):
            with open(log_path, encoding="utf-8", errors="replace") as log:
                lines = log.readlines()
        again = f"sbatch --array={index} {shlex.quote(script)}"
        done, cause = finished_training(lines), failure_line(lines)
        if not done and cause:
            raise RecipeError(
                f"seed {seed}: fairseq-train failed ({cause}); log: {log_path}; after a fix: {again}"
            )
        waiting = "the job may still be running or waiting (squeue)"
        run = seed_scores(lines, metric, seed, log_path, hint=waiting)
        if not done:
            raise RecipeError(
                f"seed {seed}: fairseq-train has not finished (no 'done training' line in {log_path}); "
                f"{waiting}, else it was stopped (time limit): train it again with {again}"
            )
        seeds[str(seed)] = {**run, "command": command}
    summary = summarize(job["task"], job["variant"], metric, job["model"], job["data"], seeds)
    write_json(os.path.join(folder, SCORES), summary)
    report(summary, folder)
    return 0
