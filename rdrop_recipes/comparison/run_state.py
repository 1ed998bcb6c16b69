"""Where a run of a comparison stands, read from its folder alone so that a rerun resumes
it (the settings it was started with, whether its training exited cleanly, its evaluation),
and every run checked before the first one starts (the dry run too), by the code that would
refuse it later: otherwise a variant's typo stops the comparison hours in."""

import argparse
import hashlib
import os
import shlex
from pathlib import Path
from typing import Callable, List, Optional, Tuple

from rdrop_recipes.comparison.plan import Run, Settings, eval_command, train_command
from rdrop_recipes.config.recipe_config import parse_with_passthrough
from rdrop_recipes.evaluation import translation
from rdrop_recipes.folders import results_dirs, run_dirs
from rdrop_recipes.folders.atomic_files import read_json, write_json
from rdrop_recipes.folders.markers import COMPARISON_SPEC
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training import launch, slurm
from rdrop_recipes.training.hardware import Hardware, detect_hardware
from rdrop_recipes.training.plan import build_plan

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


def check_spec(run: Run, settings: Settings, record: bool = True) -> None:
    """Refuse a run started with other settings; ``record`` them in a new run."""
    path, spec = os.path.join(run.folder, COMPARISON_SPEC), spec_of(run, settings)
    old = read_json(path)
    if old is not None and old != spec:
        raise RecipeError(
            f"run {run.name} in {run.folder} was started with other settings ({changes(old, spec)}); "
            "use another --out, or delete that run folder to redo it"
        )
    if old is None and record:
        os.makedirs(run.folder, exist_ok=True)
        write_json(path, spec)


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


def is_trained(run: Run) -> bool:
    return read_json(run.trained_marker) is not None and os.path.isfile(
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
        check_spec(run, settings)
        label, current = f"[{number}/{len(runs)}]", state(run)
        if current == "finished":
            say(f"{label} {run.name}: finished earlier, skipping")
            continue
        say(f"{label} {run.name}: {current}")
        pending.append((label, run))
    return pending


class _Refusing(argparse.ArgumentParser):
    """A parser whose complaint is a RecipeError (argparse's own prints a usage and exits)."""

    def error(self, message):
        raise RecipeError(message)


def _parsed(add_arguments: Callable, command: List[str]) -> argparse.Namespace:
    """The arguments a recipe child would parse from ``command`` (``python -m MODULE ...``)."""
    parser = _Refusing(prog=command[2])
    add_arguments(parser)
    return parse_with_passthrough(parser, command[3:])


def hardware_of_a_run(device: str, jobs: int) -> Hardware:
    """What each run's training sees: with ``--jobs N`` on GPUs, one GPU each."""
    hardware = detect_hardware(device)
    if hardware.device == "cuda" and jobs > 1:
        return Hardware("cuda", 1, hardware.bf16)
    return hardware


def check_training(run: Run, settings: Settings, hardware: Hardware) -> None:
    """Refuse what ``python -m rdrop_recipes.train`` would refuse of this run's command."""
    try:
        args = _parsed(launch.add_arguments, train_command(run, settings))
        if slurm.requested(args) or args.dry_run:
            raise RecipeError("--slurm-* and --dry-run do not train here; leave them out of --define")
        plan = build_plan(args, hardware=hardware)
        run_dirs.check_resume(plan.save_dir, plan.settings, args.allow_changed_settings)
    except RecipeError as err:
        flags = shlex.join(run.train_flags)
        raise RecipeError(f"{run.name} (variant {run.variant}: {flags}) would not train: {err}") from None


def check_evaluation(run: Run, settings: Settings) -> None:
    """Refuse what ``evaluate`` would refuse before it loads a checkpoint."""
    try:
        translation.check_setup(
            translation.resolve(_parsed(translation.add_arguments, eval_command(run, settings)))
        )
    except RecipeError as err:
        raise RecipeError(f"the evaluations (--eval-config, --eval-set) would stop: {err}") from None


def check_runs(runs: List[Run], settings: Settings, hardware: Hardware) -> None:
    """Every check the comparison would meet later; nothing is written."""
    for run in runs:
        check_spec(run, settings, record=False)
    for run in runs:
        if not is_trained(run):  # a trained run is not trained again (execution.steps_of)
            check_training(run, settings, hardware)
    left = [run for run in runs if state(run) != "finished"]
    if left:
        check_evaluation(left[0], settings)  # the runs' evaluations differ only in their paths
