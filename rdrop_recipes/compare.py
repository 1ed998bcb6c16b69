"""Variants x seeds on one corpus, trained and evaluated by the repository's own
recipes, summarized in one table with sacreBLEU's significance tests.

    scripts/compare.sh --config configs/train-multi30k.toml --eval-config configs/evaluate-multi30k.toml \
        --data DIR --out DIR [--variants baseline,rdrop] [--seeds 1,2]
        [--define NAME="--variant rdrop --reg-alpha 1" ...] [--baseline baseline]
        [--set key=value ...] [--eval-set key=value ...] [--device auto|cpu|cuda]
        [--jobs N] [--bootstrap-samples 1000] [--ar-trials 10000] [--dry-run]

Each run is ``python -m rdrop_recipes.train --config C --variant V --set seed=S
--save-dir OUT/runs/V-seedS ...`` followed by ``python -m rdrop_recipes.evaluate``
on its checkpoint_best.pt into ``OUT/runs/V-seedS/eval/``. ``--variants`` names
variants of the train config (``[variants.NAME]``) or names given by
``--define NAME="train flags"``, which may hold ``--variant``, ``--reg-*`` and
``--set`` (e.g. ``--define alpha1="--variant rdrop --reg-alpha 1"``).
``--set`` applies to every run (``--set max_update=3000``).

A run is finished once its training exited cleanly (``trained.json``) and an
evaluation of it is complete (a results folder with ``scores.json``). Running the
same command again skips finished runs, evaluates trained ones, and continues
the others from their ``checkpoint_last.pt`` (fairseq's own resume), so an
interrupted comparison resumes; a run whose settings differ from those it was
started with is refused rather than mixed. A comparison folder may be moved,
and the run folders of two comparisons with the same settings (e.g. one per
seed, on two machines) gathered under one ``OUT/runs/``: they are found
finished. ``--jobs N`` trains N runs at a time, each on cores/N threads on a
CPU or on its own GPU; a failed run starts no others, lets those already going
finish, and then ends the comparison with its error. When every run is finished, the
summary goes to a fresh ``OUT/results/<name>-<timestamp>/`` (built as a hidden
``.partial`` folder and renamed when complete): ``table.md``, ``table.json``
and ``curves.png`` of all runs. Per variant: BLEU of every seed, mean and
sample standard deviation, best valid loss, training wall time (start of each
training attempt to its last log line, summed); per variant and seed against
the baseline of the same seed: sacreBLEU's
paired bootstrap and approximate-randomization p-values.
"""

import argparse
import contextlib
import datetime
import fcntl
import hashlib
import os
import re
import shlex
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Tuple

from rdrop_recipes import curves
from rdrop_recipes.config import recipe_config
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.atomic_files import read_json, write_json
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly

PROG = "compare"
TRAINED = "trained.json"
SPEC = "spec.json"


@dataclass
class Run:
    variant: str
    seed: int
    folder: str
    train_flags: List[str]  # the variant's own flags (--variant, --reg-*, --set)

    @property
    def name(self) -> str:
        return f"{self.variant}-seed{self.seed}"

    @property
    def eval_dir(self) -> str:
        return os.path.join(self.folder, "eval")


# -- command line --------------------------------------------------------------


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True, help="train recipe TOML (configs/train-*.toml)")
    parser.add_argument("--eval-config", required=True, help="evaluate recipe TOML (configs/evaluate-*.toml)")
    parser.add_argument("--data", help="binarized data folder (default: the train config's)")
    parser.add_argument("--out", required=True, help="comparison folder: runs/ and results/ go here")
    parser.add_argument("--variants", default="baseline,rdrop", help="comma-separated (default %(default)s)")
    parser.add_argument("--seeds", default="1,2", help="comma-separated integers (default %(default)s)")
    parser.add_argument(
        "--define",
        action="append",
        default=[],
        metavar='NAME="FLAGS"',
        help='a named variant made of train flags, e.g. alpha1="--variant rdrop --reg-alpha 1"',
    )
    parser.add_argument("--baseline", default="baseline", help="variant the others are tested against")
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE", help="for every run"
    )
    parser.add_argument(
        "--eval-set", action="append", default=[], metavar="KEY=VALUE", help="for every evaluation"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs trained at a time (default %(default)s): on cpu each gets cores/N threads "
        "(unless OMP_NUM_THREADS is set), on cuda one GPU each (from CUDA_VISIBLE_DEVICES, else 0..N-1)",
    )
    parser.add_argument("--name", default="comparison", help="results folder name (a timestamp is added)")
    parser.add_argument("--bootstrap-samples", type=int, default=1000)
    parser.add_argument("--ar-trials", type=int, default=10000)
    parser.add_argument("--dry-run", action="store_true", help="list the runs and their state, run nothing")
    return parser.parse_args(argv)


def split_list(text: str, what: str) -> List[str]:
    items = [item.strip() for item in text.split(",") if item.strip()]
    if not items:
        raise RecipeError(f"--{what} is empty; give a comma-separated list")
    if len(set(items)) != len(items):
        raise RecipeError(f"--{what} {text!r} names an entry twice")
    return items


def parse_seeds(text: str) -> List[int]:
    try:
        return [int(s) for s in split_list(text, "seeds")]
    except ValueError:
        raise RecipeError(f"--seeds {text!r}: give comma-separated integers, e.g. 1,2") from None


def variant_flags(names: List[str], defines: List[str], config: dict) -> Dict[str, List[str]]:
    """variant name -> its train flags."""
    defined = {}
    for item in defines:
        name, sep, flags = item.partition("=")
        if not sep or not name.strip() or "," in name or "/" in name:
            raise RecipeError(f'--define {item!r}: write NAME="train flags", e.g. alpha1="--reg-alpha 1"')
        defined[name.strip()] = shlex.split(flags)
    known = config.get("variants", {})
    flags = {}
    for name in names:
        if name in defined:
            flags[name] = defined[name]
        elif name in known:
            flags[name] = ["--variant", name]
        else:
            raise RecipeError(
                f"variant {name!r} is neither in {', '.join(known)} of the train config nor "
                f'given by --define {name}="FLAGS"'
            )
    for name, given in flags.items():
        for flag in given:
            if flag in ("--save-dir", "--data", "--config", "--device") or flag.startswith("--save-dir="):
                raise RecipeError(f"variant {name}: {flag} is set by compare itself; leave it out")
    return flags


# -- one run -------------------------------------------------------------------


def file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()[:16]


def train_command(run: Run, args, data: Optional[str]) -> List[str]:
    command = [sys.executable, "-m", "rdrop_recipes.train", "--config", args.config]
    command += ["--save-dir", run.folder, "--device", args.device]
    if data:
        command += ["--data", data]
    for assignment in args.assignments:
        command += ["--set", assignment]
    command += run.train_flags
    # the seed last, so that no --set of a variant can silently share seeds
    command += ["--set", f"seed={run.seed}"]
    return command


def eval_command(run: Run, args, data: Optional[str]) -> List[str]:
    command = [sys.executable, "-m", "rdrop_recipes.evaluate", "--config", args.eval_config]
    command += ["--checkpoint", os.path.join(run.folder, "checkpoint_best.pt")]
    command += ["--results-dir", run.eval_dir, "--name", run.name, "--device", args.device]
    if data:
        command += ["--data", data]
    for assignment in args.eval_set:
        command += ["--set", assignment]
    return command


RUN_FOLDER = "<run folder>"


def spec_of(run: Run, args, data: Optional[str]) -> dict:
    """What makes a run this run; a stored one that differs is refused. Paths inside
    the run's own folder are written relative to it, so that a comparison folder
    can be moved, or runs of two comparisons gathered into one, and still resume."""

    def relative(command: List[str]) -> List[str]:
        inside = run.folder + os.sep
        return [
            RUN_FOLDER + arg[len(run.folder) :] if arg == run.folder or arg.startswith(inside) else arg
            for arg in command[1:]
        ]

    return {
        "train": relative(train_command(run, args, data)),
        "train_config_sha256": file_digest(args.config),
        "evaluate": relative(eval_command(run, args, data)),
    }


def is_trained(run: Run) -> bool:
    return read_json(os.path.join(run.folder, TRAINED)) is not None and os.path.isfile(
        os.path.join(run.folder, "checkpoint_best.pt")
    )


def evaluation(run: Run) -> Optional[str]:
    """The newest finished evaluation folder of ``run``, if any."""
    if not os.path.isdir(run.eval_dir):
        return None
    done = results_dirs.completed_runs(run.eval_dir)
    return done[-1] if done else None


def state(run: Run) -> str:
    if is_trained(run) and evaluation(run):
        return "finished"
    if is_trained(run):
        return "trained, not evaluated"
    if os.path.isfile(os.path.join(run.folder, "checkpoint_last.pt")):
        return "interrupted (continues from checkpoint_last.pt)"
    if os.path.isfile(os.path.join(run.folder, "train.out")):
        return "interrupted before its first checkpoint"
    return "not started"


def check_spec(run: Run, spec: dict) -> None:
    path = os.path.join(run.folder, SPEC)
    old = read_json(path)
    if old is None:
        os.makedirs(run.folder, exist_ok=True)
        write_json(path, spec)
        return
    if old != spec:
        changed = [key for key in spec if old.get(key) != spec[key]]
        raise RecipeError(
            f"run {run.name} in {run.folder} was started with other settings ({', '.join(changed)} "
            f"differ: was {shlex.join(old.get('train', []))}); use another --out, or delete that run "
            "folder to redo it"
        )


@dataclass
class Step:
    """One child of a run (its training or its evaluation): the command, the console
    it appends to, and the check of its exit status (raises RecipeError)."""

    command: List[str]
    console: str
    finish: Callable[[int], None]


def spawn_logged(step: Step, env: Optional[Dict[str, str]]) -> subprocess.Popen:
    """Start a recipe, its output appended to ``step.console``. Stopped (``children.stop``),
    the recipe gets SIGTERM and stops its own fairseq child (children.py)."""
    with open(step.console, "a", encoding="utf-8") as log:
        log.write(
            f"\n# {datetime.datetime.now().isoformat(timespec='seconds')}: {shlex.join(step.command)}\n"
        )
        log.flush()
        return children.spawn(step.command, stdout=log, stderr=subprocess.STDOUT, env=env)


def last_line(path: str) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        lines = [line.strip() for line in f if line.strip()]
    return lines[-1] if lines else "(no output)"


def training(run: Run, args, data: Optional[str], say) -> Step:
    marker = os.path.join(run.folder, TRAINED)
    with contextlib.suppress(FileNotFoundError):
        os.remove(marker)
    out = os.path.join(run.folder, "train.out")
    resumed = os.path.isfile(os.path.join(run.folder, "checkpoint_last.pt"))
    say(f"{run.name}: {'continuing' if resumed else 'training'} (console: {out})")
    started = time.time()

    def finish(code: int) -> None:
        if code:
            raise RecipeError(f"training {run.name} failed with status {code}: {last_line(out)} (log: {out})")
        if not os.path.isfile(os.path.join(run.folder, "checkpoint_best.pt")):
            raise RecipeError(f"training {run.name} wrote no checkpoint_best.pt (log: {out})")
        write_json(marker, {"finished": now(), "seconds_last_attempt": round(time.time() - started, 1)})

    return Step(train_command(run, args, data), out, finish)


def evaluating(run: Run, args, data: Optional[str], say) -> Step:
    out = os.path.join(run.folder, "evaluate.out")
    say(f"{run.name}: evaluating (console: {out})")

    def finish(code: int) -> None:
        if code:
            raise RecipeError(
                f"evaluating {run.name} failed with status {code}: {last_line(out)} (log: {out})"
            )
        if evaluation(run) is None:
            raise RecipeError(f"evaluating {run.name} left no finished results folder (log: {out})")

    return Step(eval_command(run, args, data), out, finish)


def steps_of(run: Run, args, data: Optional[str], say) -> Iterator[Step]:
    """What is left of ``run``: its training unless it finished, then its evaluation.
    Lazy: the evaluation step is made once the training step has finished."""
    if not is_trained(run):
        yield training(run, args, data, say)
    yield evaluating(run, args, data, say)


def job_environments(jobs: int, device: str, environ: Mapping[str, str], cpus: int) -> List[Dict[str, str]]:
    """What each of ``jobs`` runs at a time adds to its environment: one GPU each, or an
    equal share of the cores (unless OMP_NUM_THREADS is already set: the user's choice)."""
    if jobs < 1:
        raise RecipeError(f"--jobs {jobs}: give the number of runs at a time, 1 or more")
    if jobs == 1:
        return [{}]
    if device == "auto":
        raise RecipeError(
            f"--jobs {jobs} needs --device cpu or --device cuda, so that each run gets its own cores or GPU"
        )
    if device == "cuda":
        visible = environ.get("CUDA_VISIBLE_DEVICES")
        gpus = (
            [g.strip() for g in visible.split(",") if g.strip()] if visible else list(map(str, range(jobs)))
        )
        if len(gpus) < jobs:
            raise RecipeError(
                f"--jobs {jobs} gives each run one GPU, but CUDA_VISIBLE_DEVICES={visible} names "
                f"{len(gpus)}; give --jobs {len(gpus)} or name more GPUs"
            )
        return [{"CUDA_VISIBLE_DEVICES": gpu} for gpu in gpus[:jobs]]
    if "OMP_NUM_THREADS" in environ:
        return [{} for _ in range(jobs)]
    return [{"OMP_NUM_THREADS": str(max(1, cpus // jobs))} for _ in range(jobs)]


POLL_SECONDS = 0.5


def run_all(runs: List[Tuple[str, Run]], args, data: Optional[str], say, slots: List[Dict[str, str]]):
    """Train and evaluate ``runs`` (each with its progress label), ``len(slots)`` at a time,
    each slot's children with its environment additions. A failed run starts no further
    runs; those already going finish, then its error is raised. Anything that ends
    the comparison (Ctrl-C, SIGTERM, an error here) stops every child first: they
    continue from their checkpoint_last.pt on the next call."""
    waiting = list(runs)
    active: Dict[int, tuple] = {}  # slot -> (label, run, its steps, the step going, its process)
    failures: List[RecipeError] = []
    started = time.time()

    def start_next(slot: int, label: str, run: Run, steps: Iterator[Step]) -> None:
        step = next(steps, None)
        if step is None:
            say(f"{label} {run.name}: finished ({minutes(time.time() - started)} so far)")
            del active[slot]
            return
        env = dict(os.environ, **slots[slot]) if slots[slot] else None
        active[slot] = (label, run, steps, step, spawn_logged(step, env))

    try:
        while active or (waiting and not failures):
            for slot in range(len(slots)):
                if slot not in active and waiting and not failures:
                    label, run = waiting.pop(0)
                    active[slot] = None  # taken before its first step starts
                    start_next(slot, label, run, steps_of(run, args, data, say))
            time.sleep(POLL_SECONDS)
            for slot, (label, run, steps, step, proc) in list(active.items()):
                code = proc.poll()
                if code is None:
                    continue
                try:
                    step.finish(code)
                except RecipeError as error:
                    failures.append(error)
                    del active[slot]
                    continue
                start_next(slot, label, run, steps)
    except BaseException:
        for going in active.values():
            if going is not None:
                children.stop(going[-1])
        raise
    if failures:
        raise failures[0]


def now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


# -- the table -----------------------------------------------------------------


def lines_of(path: str) -> List[str]:
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def run_record(run: Run) -> dict:
    folder = evaluation(run)
    scores = read_json(os.path.join(folder, "scores.json"))
    log = curves.parse_log(run.folder, run.name)
    valid = [(u, m["loss"]) for u, m in sorted(log.valid.items()) if "loss" in m]
    best = min(valid, key=lambda p: p[1]) if valid else (None, None)
    return {
        "run": run.name,
        "variant": run.variant,
        "seed": run.seed,
        "bleu": scores["bleu"]["score"],
        "bleu_kind": scores["bleu"]["kind"],
        "bleu_signature": scores["bleu"]["signature"],
        "best_valid_loss": best[1],
        "best_valid_update": best[0],
        "updates": max(log.train_records()) if log.train_records() else None,
        "train_wall_seconds": training_seconds(os.path.join(run.folder, "train.out")),
        "evaluation": folder,
        "save_dir": run.folder,
    }


_ATTEMPT = re.compile(r"^# (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d): ")
_STAMPED = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| ")


def training_seconds(console: str) -> Optional[float]:
    """Wall time of all training attempts of a run: from each attempt's start (the
    ``# <time>: <command>`` line ``spawn_logged`` writes) to its last time-stamped line.
    Not fairseq's ``wall=``, which restarts at 0 in a resumed run and stays there."""
    if not os.path.isfile(console):
        return None
    total, start, last = 0.0, None, None
    with open(console, encoding="utf-8", errors="replace") as f:
        for line in f:
            attempt = _ATTEMPT.match(line)
            stamped = None if attempt else _STAMPED.match(line)
            if attempt:
                if start is not None and last is not None:
                    total += max(0.0, (last - start).total_seconds())
                start, last = datetime.datetime.fromisoformat(attempt.group(1)), None
            elif stamped and start is not None:
                last = datetime.datetime.strptime(stamped.group(1), "%Y-%m-%d %H:%M:%S")
    if start is not None and last is not None:
        total += max(0.0, (last - start).total_seconds())
    return round(total, 1)


def output_files(folder: str):
    """The hypothesis and reference files whose BLEU scores.json reports."""
    split = os.path.join(folder, "hypotheses.compound-split.txt")
    if os.path.isfile(split):
        return split, os.path.join(folder, "references.compound-split.txt")
    return os.path.join(folder, "hypotheses.txt"), os.path.join(folder, "references.txt")


def significance_tests(records, baseline: str, lowercase: bool, args) -> List[dict]:
    from rdrop_recipes.evaluation.significance import paired_p_values

    by_key = {(r["variant"], r["seed"]): r for r in records}
    tests = []
    for r in records:
        base = by_key.get((baseline, r["seed"]))
        if r["variant"] == baseline or base is None:
            continue
        base_hyps, refs = output_files(base["evaluation"])
        hyps, refs_sys = output_files(r["evaluation"])
        references = lines_of(refs)
        if lines_of(refs_sys) != references:
            raise RecipeError(
                f"{r['run']} and {base['run']} were evaluated on different references; "
                "compare runs on the same test set"
            )
        result = paired_p_values(
            lines_of(base_hyps),
            lines_of(hyps),
            references,
            lowercase=lowercase,
            bootstrap_samples=args.bootstrap_samples,
            ar_trials=args.ar_trials,
        )
        tests.append({"variant": r["variant"], "seed": r["seed"], "baseline": base["run"], **result})
    return tests


def summarize(records, tests, variants, baseline) -> List[dict]:
    rows = []
    for variant in variants:
        mine = sorted((r for r in records if r["variant"] == variant), key=lambda r: r["seed"])
        bleus = [r["bleu"] for r in mine]
        losses = [r["best_valid_loss"] for r in mine if r["best_valid_loss"] is not None]
        walls = [r["train_wall_seconds"] for r in mine if r["train_wall_seconds"] is not None]
        row = {
            "variant": variant,
            "seeds": [r["seed"] for r in mine],
            "bleu": bleus,
            "bleu_mean": round(statistics.mean(bleus), 2),
            "bleu_std": round(statistics.stdev(bleus), 2) if len(bleus) > 1 else None,
            "best_valid_loss": losses,
            "best_valid_loss_mean": round(statistics.mean(losses), 3) if losses else None,
            "train_wall_seconds_mean": round(statistics.mean(walls), 1) if walls else None,
        }
        if variant != baseline:
            mine_tests = sorted((t for t in tests if t["variant"] == variant), key=lambda t: t["seed"])
            row["p_bootstrap"] = [t["p_bootstrap"] for t in mine_tests]
            row["p_ar"] = [t["p_ar"] for t in mine_tests]
        rows.append(row)
    return rows


def fmt(value, digits=2) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def p_value(p: float) -> str:
    # 4 decimals: the smallest p of 10,000 AR trials is 1/10,001 = 0.0001, which 3 would show as 0
    return f"{p:.4f}"


def minutes(seconds) -> str:
    return "–" if seconds is None else f"{seconds / 60:.1f} min"


def markdown(summary, records, baseline, meta) -> str:
    kind = records[0]["bleu_kind"] if records else "BLEU"
    lines = [
        f"# {meta['name']}",
        "",
        f"Test-set {kind} (`{records[0]['bleu_signature']}`)." if records else "",
        f"p-values: sacreBLEU's paired bootstrap ({meta['bootstrap_samples']} resamples) and approximate "
        f"randomization ({meta['ar_trials']} trials), each seed against `{baseline}` of the same seed. "
        "std is the sample standard deviation over seeds.",
        "",
        "| variant | BLEU per seed | BLEU mean ± std | best valid loss (mean) | train wall per run (mean) "
        f"| p paired bootstrap vs {baseline} | p approx. randomization vs {baseline} |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in summary:
        per_seed = " / ".join(f"{b:.2f}" for b in row["bleu"])
        std = f" ± {row['bleu_std']:.2f}" if row["bleu_std"] is not None else ""
        p_bs = " / ".join(p_value(p) for p in row.get("p_bootstrap", [])) or "–"
        p_ar = " / ".join(p_value(p) for p in row.get("p_ar", [])) or "–"
        lines.append(
            f"| {row['variant']} | {per_seed} | {row['bleu_mean']:.2f}{std} | "
            f"{fmt(row['best_valid_loss_mean'], 3)} | {minutes(row['train_wall_seconds_mean'])} | "
            f"{p_bs} | {p_ar} |"
        )
    lines += [
        "",
        "| run | seed | BLEU | best valid loss (at update) | updates | train wall |",
        "|---|---|---|---|---|---|",
    ]
    for r in records:
        lines.append(
            f"| {r['run']} | {r['seed']} | {r['bleu']:.2f} | {fmt(r['best_valid_loss'], 3)} "
            f"({r['best_valid_update']}) | {r['updates']} | {minutes(r['train_wall_seconds'])} |"
        )
    lines += ["", "Runs: " + ", ".join(f"`{r['save_dir']}`" for r in records), ""]
    lines += ["Command:", "", "```", meta["command"], "```", ""]
    return "\n".join(lines)


def write_results(runs: List[Run], variants, args, started: float, say) -> str:
    eval_cfg = recipe_config.load(args.eval_config)
    lowercase = bool(eval_cfg.get("recipe", {}).get("lowercase", False))
    records = [run_record(run) for run in runs]
    say(
        f"significance tests against {args.baseline} (sacreBLEU paired bootstrap + approximate randomization)"
    )
    tests = significance_tests(records, args.baseline, lowercase, args)
    summary = summarize(records, tests, variants, args.baseline)
    meta = {
        "name": args.name,
        "created": now(),
        "command": shlex.join(["scripts/compare.sh"] + sys.argv[1:]) if args.argv is None else args.argv,
        "train_config": args.config,
        "eval_config": args.eval_config,
        "data": args.data,
        "baseline": args.baseline,
        "bootstrap_samples": args.bootstrap_samples,
        "ar_trials": args.ar_trials,
        "seconds_this_invocation": round(time.time() - started, 1),
    }
    results_dir = os.path.join(args.out, "results")
    partial, stamp = results_dirs.start(results_dir, args.name, "compare")
    with open(os.path.join(partial, "table.md"), "w", encoding="utf-8") as f:
        f.write(markdown(summary, records, args.baseline, meta))
    write_json(
        os.path.join(partial, "table.json"),
        {**meta, "variants": summary, "runs": records, "tests": tests},
    )
    logs = [curves.parse_log(run.folder, run.name) for run in runs]
    curves.plot(logs, os.path.join(partial, "curves.png"), title=f"{args.name}: {', '.join(variants)}")
    return results_dirs.publish(partial, results_dir, args.name, stamp)


# -- driver --------------------------------------------------------------------


@contextlib.contextmanager
def locked(folder: str):
    """One compare per folder: two would train the same run twice."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, ".lock"), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RecipeError(
                f"another compare is running in {folder}; wait for it or use another --out"
            ) from None
        yield


def plan(args) -> tuple:
    config = recipe_config.load(args.config)
    recipe_config.load(args.eval_config)
    data = args.data or config.get("recipe", {}).get("data", "")
    if not os.path.isdir(data):
        hint = config.get("recipe", {}).get("prepare_hint", "pass --data DIR")
        raise RecipeError(f"data folder {data!r} not found; {hint}")
    variants = split_list(args.variants, "variants")
    seeds = parse_seeds(args.seeds)
    flags = variant_flags(variants, args.define, config)
    # seed by seed, so an interrupted comparison already holds complete pairs to compare
    runs = [
        Run(v, s, os.path.join(args.out, "runs", f"{v}-seed{s}"), flags[v]) for s in seeds for v in variants
    ]
    return variants, runs


@exits_cleanly(PROG)
def main(argv=None):
    args = parse_args(argv)
    args.argv = None if argv is None else shlex.join(["scripts/compare.sh"] + list(argv))
    args.out = os.path.abspath(args.out)
    if args.data:
        args.data = os.path.abspath(args.data)
    variants, runs = plan(args)
    slots = job_environments(args.jobs, args.device, os.environ, os.cpu_count() or 1)
    started = time.time()

    def say(text):
        print(f"{PROG}: {text}", flush=True)

    if args.dry_run:
        for run in runs:
            say(f"{run.name}: {state(run)}")
            say("  " + shlex.join(train_command(run, args, args.data)))
        return 0
    with locked(args.out):
        total = len(runs)
        pending = []
        for number, run in enumerate(runs, start=1):
            check_spec(run, spec_of(run, args, args.data))
            current = state(run)
            if current == "finished":
                say(f"[{number}/{total}] {run.name}: finished earlier, skipping")
                continue
            say(f"[{number}/{total}] {run.name}: {current}")
            pending.append((f"[{number}/{total}]", run))
        run_all(pending, args, args.data, say, slots)
        final = write_results(runs, variants, args, started, say)
    say(f"results in {final}")
    with open(os.path.join(final, "table.md"), encoding="utf-8") as f:
        print(f.read(), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
