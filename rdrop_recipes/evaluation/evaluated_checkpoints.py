"""Which checkpoint an evaluation reads ([recipe] ``checkpoints``, ``average_last``),
several averaged into one, and the results folder name they give."""

import glob
import os

from rdrop_recipes.evaluation.checkpoint_averaging import average_checkpoints, write_checkpoint
from rdrop_recipes.fairseq_io.checkpoint_files import (
    check_checkpoint,
    expand,
    last_checkpoints,
    oldest_to_newest,
)
from rdrop_recipes.process.errors import RecipeError


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
    average_last = int(recipe.get("average_last") or 0)
    if average_last < 0:
        raise RecipeError(f"--average-last must be >= 0 (got {recipe['average_last']})")
    checkpoints = resolve_checkpoints(recipe["checkpoints"], average_last)
    for path in checkpoints:
        check_checkpoint(path)
    return checkpoints


def one_checkpoint(checkpoints, folder, prog):
    """The only checkpoint, or the average of several written as ``folder``/averaged.pt."""
    if len(checkpoints) == 1:
        return checkpoints[0]
    print(f"{prog}: averaging {len(checkpoints)} checkpoints: {', '.join(checkpoints)}", flush=True)
    averaged = os.path.join(folder, "averaged.pt")
    write_checkpoint(average_checkpoints(checkpoints), averaged)
    return averaged


def default_name(recipe, checkpoints):
    """The run's save dir, then which checkpoint: ``iwslt14-rdrop-best``, ``iwslt14-rdrop-avg5``."""
    run = os.path.basename(os.path.dirname(os.path.abspath(checkpoints[-1]))) or recipe.get("name", "eval")
    if len(checkpoints) > 1:
        return f"{run}-avg{len(checkpoints)}"
    return f"{run}-" + os.path.splitext(os.path.basename(checkpoints[0]))[0].replace("checkpoint_", "")
