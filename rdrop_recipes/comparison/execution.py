"""Training and evaluating the runs of a comparison, N at a time, one worker thread per slot
(a GPU or a share of the cores). A failed run starts no further runs; those going finish,
then its error is raised. Whatever ends the comparison early stops every child first:
they continue from their checkpoint_last.pt on the next call."""

import contextlib
import dataclasses
import fcntl
import os
import queue
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from typing import Callable, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple

from rdrop_recipes.comparison import consoles, run_state
from rdrop_recipes.comparison.plan import Run, Settings, check_baseline, eval_command, plan, train_command
from rdrop_recipes.comparison.summary import minutes, write_results
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.atomic_files import write_json
from rdrop_recipes.folders.markers import COMPARISON_LOCK
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import RecipeError


@dataclass
class Step:
    """One child of a run: its command, the console it appends to, the check of its status."""

    command: List[str]
    console: str
    finish: Callable[[int], None]


def _check_status(doing: str, run: Run, code: int, console: str) -> None:
    if code:
        raise RecipeError(
            f"{doing} {run.name} failed with status {code}: {consoles.last_line(console)} (log: {console})"
        )


def training(run: Run, settings: Settings, say) -> Step:
    with contextlib.suppress(FileNotFoundError):
        os.remove(run.trained_marker)
    out = run.train_console
    resumed = os.path.isfile(os.path.join(run.folder, "checkpoint_last.pt"))
    say(f"{run.name}: {'continuing' if resumed else 'training'} (console: {out})")
    started = time.time()

    def finish(code: int) -> None:
        _check_status("training", run, code, out)
        if not os.path.isfile(os.path.join(run.folder, "checkpoint_best.pt")):
            raise RecipeError(f"training {run.name} wrote no checkpoint_best.pt (log: {out})")
        seconds = round(time.time() - started, 1)
        write_json(run.trained_marker, {"finished": results_dirs.now(), "seconds_last_attempt": seconds})

    return Step(train_command(run, settings), out, finish)


def evaluating(run: Run, settings: Settings, say) -> Step:
    out = run.eval_console
    say(f"{run.name}: evaluating (console: {out})")

    def finish(code: int) -> None:
        _check_status("evaluating", run, code, out)
        if run_state.evaluation(run) is None:
            raise RecipeError(f"evaluating {run.name} left no finished results folder (log: {out})")

    return Step(eval_command(run, settings), out, finish)


def steps_of(run: Run, settings: Settings, say) -> Iterator[Step]:
    """Its training unless it finished, then its evaluation (made once the training finished)."""
    if not run_state.is_trained(run):
        yield training(run, settings, say)
    yield evaluating(run, settings, say)


def job_environments(jobs: int, device: str, environ: Mapping[str, str], cpus: int) -> List[Dict[str, str]]:
    """What each of ``jobs`` runs at a time adds to its environment: one GPU each, or an
    equal share of the cores (unless OMP_NUM_THREADS is set: the user's choice)."""
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
    threads = {} if "OMP_NUM_THREADS" in environ else {"OMP_NUM_THREADS": str(max(1, cpus // jobs))}
    return [dict(threads) for _ in range(jobs)]


class _Stopped(Exception):
    """A step not started, or cut short, because the comparison is ending."""


class _GoingChildren:
    """The children of every run going, for the main thread (where signals arrive) to stop."""

    def __init__(self):
        self._lock = threading.Lock()
        self._going = set()
        self._stopping = False

    def run(self, step: Step, env: Optional[Dict[str, str]]) -> int:
        """``step``'s exit status, its output appended to its console."""
        # spawned under the lock: stop_all never misses a child started while it runs
        with self._lock:
            if self._stopping:
                raise _Stopped()
            with consoles.attempt(step.console, step.command) as log:
                # the child dies with the thread that started it (PR_SET_PDEATHSIG), which
                # is this worker, alive until the child ends
                proc = children.spawn(step.command, stdout=log, stderr=subprocess.STDOUT, env=env)
            self._going.add(proc)
        try:
            code = proc.wait()
        finally:
            with self._lock:
                self._going.discard(proc)
        if self._stopping:
            raise _Stopped()
        return code

    def stop_all(self) -> None:
        with self._lock:
            self._stopping = True
            going = list(self._going)
        for proc in going:
            children.stop(proc)


def run_all(runs: Sequence[Tuple[str, Run]], settings: Settings, say, slots: List[Dict[str, str]]) -> None:
    """Train and evaluate ``runs`` (label, run), ``len(slots)`` at a time, each slot's
    children with its environment additions."""
    going = _GoingChildren()
    no_more_runs = threading.Event()  # set by a failure: the runs not yet started are skipped
    free_slots = queue.SimpleQueue()
    for slot in slots:
        free_slots.put(slot)
    worker = threading.local()
    started = time.time()

    def take_slot() -> None:  # once per worker thread: there are as many as slots
        worker.slot = free_slots.get_nowait()

    def one_run(label: str, run: Run) -> None:
        if no_more_runs.is_set():
            return
        env = dict(os.environ, **worker.slot) if worker.slot else None
        try:
            for step in steps_of(run, settings, say):
                step.finish(going.run(step, env))
        except BaseException:
            # here, not when the main thread sees it: this worker takes its next run at once
            no_more_runs.set()
            raise
        say(f"{label} {run.name}: finished ({minutes(time.time() - started)} so far)")

    failures: List[RecipeError] = []
    with ThreadPoolExecutor(max_workers=len(slots), initializer=take_slot) as pool:
        futures = [pool.submit(one_run, label, run) for label, run in runs]
        try:
            for future in as_completed(futures):
                error = future.exception()
                if isinstance(error, RecipeError):
                    failures.append(error)  # the runs going finish first
                elif error is not None:
                    raise error
        except BaseException:
            no_more_runs.set()
            going.stop_all()
            raise
    if failures:
        raise failures[0]


@contextlib.contextmanager
def locked(folder: str):
    """One compare per folder: two would train the same run twice."""
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, COMPARISON_LOCK), "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise RecipeError(
                f"another compare is running in {folder}; wait for it or use another --out"
            ) from None
        yield


def compare(args, command: str) -> None:
    """compare's arguments: every run checked, then (unless ``--dry-run``) the runs left
    trained and evaluated, and the results written and shown."""
    given = [f.name for f in dataclasses.fields(Settings) if f.name not in ("baseline", "command")]
    settings = Settings(**{name: getattr(args, name) for name in given}, command=command)
    variants, runs = plan(settings, args.variants, args.seeds, args.define)
    settings = dataclasses.replace(settings, baseline=check_baseline(args.baseline, variants))
    slots = job_environments(args.jobs, args.device, os.environ, os.cpu_count() or 1)
    # every run checked before the first starts, the dry run included: it refuses what the run would
    run_state.check_runs(runs, settings, run_state.hardware_of_a_run(args.device, args.jobs))
    started = time.time()
    say = lambda text: print(f"compare: {text}", flush=True)
    if args.dry_run:
        run_state.show_runs(runs, settings, say)
        return
    with locked(settings.out):
        run_all(run_state.runs_left(runs, settings, say), settings, say, slots)
        final = write_results(runs, variants, settings, started, say)
    say(f"results in {final}")
    with open(os.path.join(final, "table.md"), encoding="utf-8") as f:
        print(f.read(), flush=True)
