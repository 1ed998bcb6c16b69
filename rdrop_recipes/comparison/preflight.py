"""Every run of a comparison checked before the first one starts (the dry run too), by
the code that would refuse it later: otherwise a variant's typo stops the comparison
hours in, after the runs before it have trained."""

import argparse
import shlex
from typing import Callable, List

from rdrop_recipes.comparison.plan import Run, Settings, eval_command, train_command
from rdrop_recipes.comparison.run_state import check_spec, is_trained, spec_of, state
from rdrop_recipes.config.command_line import parse_with_passthrough
from rdrop_recipes.evaluation import translation
from rdrop_recipes.folders import run_dirs
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training import arguments, slurm
from rdrop_recipes.training.hardware import Hardware, detect_hardware
from rdrop_recipes.training.plan import build_plan


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
    command = train_command(run, settings)
    try:
        args = _parsed(arguments.add_arguments, command)
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
        check_spec(run, spec_of(run, settings), record=False)
    for run in runs:
        if not is_trained(run):  # a trained run is not trained again (execution.steps_of)
            check_training(run, settings, hardware)
    left = [run for run in runs if state(run) != "finished"]
    if left:
        check_evaluation(left[0], settings)  # the runs' evaluations differ only in their paths
