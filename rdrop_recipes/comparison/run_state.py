"""Where a run of a comparison stands, read from its folder alone so that a rerun resumes
it: the settings it was started with, whether its training exited cleanly, its evaluation."""

import hashlib
import os
import shlex
from pathlib import Path
from typing import List, Optional, Tuple

from rdrop_recipes.comparison.plan import Run, Settings, eval_command, train_command
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.atomic_files import read_json, write_json
from rdrop_recipes.folders.markers import COMPARISON_SPEC, TRAINED
from rdrop_recipes.process.errors import RecipeError

RUN_FOLDER = "<run folder>"


def spec_of(run: Run, settings: Settings) -> dict:
    """What makes a run this run. Paths inside its folder are relative to it, so that a
    comparison folder can be moved, or runs of two comparisons gathered, and still resume."""

    def relative(command: List[str]) -> List[str]:
        inside = run.folder + os.sep
        return [
            RUN_FOLDER + arg[len(run.folder) :] if arg == run.folder or arg.startswith(inside) else arg
            for arg in command[1:]
        ]

    return {
        "train": relative(train_command(run, settings)),
        "train_config_sha256": hashlib.sha256(Path(settings.config).read_bytes()).hexdigest()[:16],
        "evaluate": relative(eval_command(run, settings)),
    }


def check_spec(run: Run, spec: dict, record: bool = True) -> None:
    """Refuse a run started with settings other than ``spec``; ``record`` it in a new run."""
    path = os.path.join(run.folder, COMPARISON_SPEC)
    old = read_json(path)
    if old is None:
        if record:
            os.makedirs(run.folder, exist_ok=True)
            write_json(path, spec)
        return
    if old != spec:
        raise RecipeError(
            f"run {run.name} in {run.folder} was started with other settings ({changes(old, spec)}); "
            "use another --out, or delete that run folder to redo it"
        )


def _options(command: List[str]) -> List[str]:
    """``command`` as its options, each with its values (``--set seed=1``, ``--variant rdrop``)."""
    options: List[str] = []
    for arg in command:
        if arg.startswith("--") or not options:  # a value may start with '-' (-1e-4)
            options.append(arg)
        else:
            options[-1] += " " + shlex.quote(arg)
    return options


def changes(old: dict, new: dict) -> str:
    """What differs between two specs, option by option (not the ~700-character commands)."""
    parts = []
    for key in new:
        if old.get(key) == new[key]:
            continue
        if key == "train_config_sha256":
            parts.append("the train config file changed")
            continue
        was, now = _options(old.get(key) or []), _options(new[key])
        gone = [o for o in was if o not in now]
        added = [o for o in now if o not in was]
        parts.append(
            f"{'training' if key == 'train' else 'evaluation'}: now "
            f"{' '.join(added) or 'without ' + ' '.join(gone)}"
            + (f", was {' '.join(gone)}" if added and gone else "")
        )
    return "; ".join(parts)


def trained_marker(run: Run) -> str:
    return os.path.join(run.folder, TRAINED)


def is_trained(run: Run) -> bool:
    return read_json(trained_marker(run)) is not None and os.path.isfile(
        os.path.join(run.folder, "checkpoint_best.pt")
    )


def evaluation(run: Run) -> Optional[str]:
    done = results_dirs.completed_runs(run.eval_dir)
    return done[-1] if done else None


def state(run: Run) -> str:
    if is_trained(run):
        return "finished" if evaluation(run) else "trained, not evaluated"
    if os.path.isfile(os.path.join(run.folder, "checkpoint_last.pt")):
        return "interrupted (continues from checkpoint_last.pt)"
    if os.path.isfile(run.train_console):
        return "interrupted before its first checkpoint"
    return "not started"


def show_runs(runs: List[Run], settings: Settings, say) -> None:
    for run in runs:
        say(f"{run.name}: {state(run)}")
        say("  " + shlex.join(train_command(run, settings)))


def runs_left(runs: List[Run], settings: Settings, say) -> List[Tuple[str, Run]]:
    """The runs not finished yet (label, run), each run's settings checked (recorded if new)."""
    pending = []
    for number, run in enumerate(runs, start=1):
        check_spec(run, spec_of(run, settings))
        label, current = f"[{number}/{len(runs)}]", state(run)
        if current == "finished":
            say(f"{label} {run.name}: finished earlier, skipping")
            continue
        say(f"{label} {run.name}: {current}")
        pending.append((label, run))
    return pending
