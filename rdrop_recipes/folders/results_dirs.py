"""A fresh results folder per run: written as ``.<name>-<stamp>-<pid>.partial/`` and renamed to
``<name>-<stamp>/`` once complete. A failed run keeps its partial folder for inspection."""

import contextlib
import datetime
import glob
import os
import shutil
from typing import Optional, Tuple

from rdrop_recipes.folders.atomic_files import write_json
from rdrop_recipes.folders.markers import PARTIAL_SUFFIX, SCORES
from rdrop_recipes.process.errors import RecipeError


def new_stamp() -> str:
    return datetime.datetime.now().strftime("%Y%m%d-%H%M%S")


def now() -> str:
    """The local time, to the second, as ISO 8601: a summary's ``created``, a console's attempts."""
    return datetime.datetime.now().isoformat(timespec="seconds")


def partial_path(results_dir: str, name: str, stamp: str) -> str:
    # the pid keeps two runs started in the same second apart
    return os.path.join(results_dir, f".{name}-{stamp}-{os.getpid()}{PARTIAL_SUFFIX}")


def stale_partials(results_dir: str) -> list:
    return sorted(glob.glob(os.path.join(results_dir, ".*" + PARTIAL_SUFFIX)))


def completed_runs(results_dir: str) -> list:
    """Finished runs: visible folders holding a scores.json."""
    return sorted(
        p
        for p in glob.glob(os.path.join(results_dir, "*"))
        if os.path.isdir(p) and os.path.isfile(os.path.join(p, SCORES))
    )


def start(results_dir: str, name: str, prog: str, stamp: str = "") -> Tuple[str, str]:
    """Make the run's partial folder; it and its stamp. Earlier unfinished runs are named, not
    removed: they hold the logs of a failure."""
    os.makedirs(results_dir, exist_ok=True)
    for leftover in stale_partials(results_dir):
        note = f"{prog}: note: {leftover} is an unfinished earlier run (not a result); delete it when done"
        print(note, flush=True)
    stamp = stamp or new_stamp()
    partial = partial_path(results_dir, name, stamp)
    os.makedirs(partial)
    return partial, stamp


@contextlib.contextmanager
def removed_if_interrupted(partial: str):
    """Ctrl-C removes the partial folder; any other failure keeps it, with its logs."""
    try:
        yield
    except KeyboardInterrupt:
        shutil.rmtree(partial, ignore_errors=True)
        raise


def publish_scores(partial: str, results_dir: str, name: str, stamp: str, scores: dict) -> str:
    """Write the run's scores.json (what makes it a completed run), then publish it."""
    write_json(os.path.join(partial, SCORES), scores)
    return publish(partial, results_dir, name, stamp)


def publish(partial: Optional[str], results_dir: str, name: str, stamp: str) -> str:
    """Rename the finished partial folder to a name no earlier run has; without one (None), make
    an empty folder of that name (a SLURM job's, complete once its scores.json is collected)."""
    for attempt in range(1, 1000):
        final = os.path.join(results_dir, f"{name}-{stamp}" + (f"-{attempt}" if attempt > 1 else ""))
        if os.path.exists(final):
            continue
        try:
            if partial is None:
                os.makedirs(final)
            else:
                os.rename(partial, final)
            return final
        except OSError:  # another run took the name between the check and the rename
            continue
    raise RecipeError(f"could not find a free results folder name for {name}-{stamp}")
