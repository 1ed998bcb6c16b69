"""Average the model parameters of several fairseq checkpoints into one.

    python -m rdrop_recipes.average_checkpoints --inputs a.pt b.pt --output avg.pt
    python -m rdrop_recipes.average_checkpoints --dir CKPT_DIR --last 5 --output avg.pt

``--last N`` takes the N newest ``checkpoint_<epoch>_<updates>.pt`` by update
number (what --save-interval-updates writes), or, where a folder has none,
the N newest ``checkpoint<epoch>.pt`` by epoch. The output keeps everything
else (config, optimizer history, extra state) from the newest input, so
fairseq-generate loads it like any checkpoint.

Parameters are summed in float64 and cast back to their own dtype, so fp16
checkpoints do not lose precision in the sum; integer buffers are not
averaged but taken from the newest checkpoint.
"""

import argparse
import glob
import os
import re
import sys
from typing import List

from rdrop_recipes.fairseq_io.checkpoint_files import check_checkpoint
from rdrop_recipes.folders.atomic_files import atomic_path
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly

_BY_UPDATES = re.compile(r"^checkpoint_(\d+)_(\d+)\.pt$")
_BY_EPOCH = re.compile(r"^checkpoint(\d+)\.pt$")


def checkpoint_order(path):
    """Sort key (kind, number): 1 for update-numbered names, 0 for epoch-numbered, else None."""
    name = os.path.basename(path)
    match = _BY_UPDATES.match(name)
    if match:
        return (1, int(match.group(2)))
    match = _BY_EPOCH.match(name)
    if match:
        return (0, int(match.group(1)))
    return None


def last_checkpoints(folder, count, by="auto") -> List[str]:
    """The ``count`` newest numbered checkpoints of ``folder``, oldest first."""
    if count < 1:
        raise RecipeError(f"--last must be >= 1 (got {count})")
    if not os.path.isdir(folder):
        raise RecipeError(f"checkpoint folder {folder!r} does not exist; train first or pass another --dir")
    numbered = [(checkpoint_order(p), p) for p in glob.glob(os.path.join(folder, "checkpoint*.pt"))]
    by_updates = sorted((key, p) for key, p in numbered if key and key[0] == 1)
    by_epoch = sorted((key, p) for key, p in numbered if key and key[0] == 0)
    if by == "updates" or (by == "auto" and by_updates):
        pool, kind = by_updates, "checkpoint_<epoch>_<updates>.pt"
    else:
        pool, kind = by_epoch, "checkpoint<epoch>.pt"
    if len(pool) < count:
        raise RecipeError(
            f"{folder!r} has {len(pool)} {kind} file(s), {count} wanted; train longer, lower the count, "
            "or save more (--save-interval-updates / --keep-interval-updates)"
        )
    return [p for _, p in pool[-count:]]


def oldest_to_newest(paths):
    """``paths`` ordered oldest to newest where their names tell, else as given."""
    keys = [checkpoint_order(p) for p in paths]
    if all(k is not None for k in keys) and len({k[0] for k in keys}) == 1:
        return [p for _, p in sorted(zip(keys, paths))]
    return list(paths)


def load_checkpoint(path):
    import torch

    check_checkpoint(path)
    try:
        # our own training output: it pickles argparse/omegaconf objects that
        # torch's weights_only loader refuses, and it is trusted like any fairseq checkpoint
        return torch.load(path, map_location="cpu", weights_only=False)
    except Exception as err:  # noqa: BLE001 - whatever torch's unpickler raises on a damaged file
        raise RecipeError(f"checkpoint {path!r} cannot be read ({type(err).__name__}: {err})") from None


def average_state_dicts(state_dicts):
    """Mean of floating tensors key by key; others from the last state dict."""
    import torch

    first_keys = list(state_dicts[0])
    for i, sd in enumerate(state_dicts[1:], 1):
        if set(sd) != set(first_keys):
            missing = sorted(set(first_keys) ^ set(sd))[:3]
            raise RecipeError(
                f"checkpoint {i} has other parameters than the first ({missing}...); "
                "only checkpoints of one model can be averaged"
            )
    averaged = {}
    newest = state_dicts[-1]
    for key in first_keys:
        reference = newest[key]
        if not torch.is_floating_point(reference):
            averaged[key] = reference.clone()
            continue
        total = torch.zeros(reference.shape, dtype=torch.float64)
        for sd in state_dicts:
            if sd[key].shape != reference.shape:
                raise RecipeError(
                    f"parameter {key} has shape {tuple(sd[key].shape)} in one checkpoint "
                    f"and {tuple(reference.shape)} in another"
                )
            total += sd[key].to(torch.float64)
        averaged[key] = (total / len(state_dicts)).to(reference.dtype)
    return averaged


def average_checkpoints(paths):
    """A checkpoint dict: the newest input with its "model" replaced by the mean."""
    if not paths:
        raise RecipeError("no checkpoints to average")
    paths = oldest_to_newest(paths)
    models = []
    state = None
    for path in paths:
        state = load_checkpoint(path)
        if "model" not in state:
            raise RecipeError(f"{path!r} has no 'model' entry; is it a fairseq checkpoint?")
        models.append(state["model"])
        # keep only the parameters of the others: a big model's optimizer state is twice its size
        if path != paths[-1]:
            state = None
    state["model"] = average_state_dicts(models)
    return state


def write_checkpoint(state, output):
    import torch

    with atomic_path(output) as tmp:  # a reader never sees half a checkpoint under the final name
        torch.save(state, tmp)


@exits_cleanly("average_checkpoints")
def main(argv=None):
    parser = argparse.ArgumentParser(prog="average_checkpoints", description=__doc__.splitlines()[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--inputs", nargs="+", help="checkpoint files or globs")
    source.add_argument("--dir", help="folder of numbered checkpoints (with --last)")
    parser.add_argument("--last", type=int, default=5, help="how many of the newest in --dir (default 5)")
    parser.add_argument("--by", choices=("auto", "updates", "epochs"), default="auto")
    parser.add_argument("--output", required=True)
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --output file")
    args = parser.parse_args(argv)
    if args.inputs:
        paths = expand(args.inputs)
    else:
        paths = last_checkpoints(args.dir, args.last, args.by)
    paths = oldest_to_newest(paths)
    if os.path.realpath(args.output) in {os.path.realpath(p) for p in paths}:
        raise RecipeError(f"--output {args.output} is one of the inputs; write the average to a new file")
    if os.path.isdir(args.output):
        raise RecipeError(
            f"--output {args.output} is a folder; name the file to write, e.g. {args.output}/avg.pt"
        )
    if os.path.exists(args.output) and not args.overwrite:
        raise RecipeError(f"--output {args.output} already exists; choose a new file or add --overwrite")
    print(f"average_checkpoints: averaging {len(paths)} checkpoint(s): {', '.join(paths)}", flush=True)
    write_checkpoint(average_checkpoints(paths), args.output)
    print(f"average_checkpoints: wrote {args.output}", flush=True)
    return 0


def expand(patterns):
    """Files named by ``patterns`` (globs allowed), each file once, in the order given.

    fairseq's ``checkpoint_best.pt`` and ``checkpoint_last.pt`` are copies of
    numbered checkpoints: where a glob matches numbered ones too, they are left
    out, or the same parameters would count twice in the mean. Named
    explicitly, they are kept.
    """
    paths, seen = [], set()
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise RecipeError(f"no checkpoint matches {pattern!r}")
        if glob.has_magic(pattern) and any(checkpoint_order(p) for p in matches):
            matches = [p for p in matches if checkpoint_order(p) or not _is_copy(p)]
        for path in matches:
            if not os.path.isfile(path):
                raise RecipeError(f"checkpoint {path!r} not found")
            if os.path.realpath(path) not in seen:  # ./a.pt, a.pt and a link to it are one file
                seen.add(os.path.realpath(path))
                paths.append(path)
    return paths


def _is_copy(path):
    return os.path.basename(path).startswith(("checkpoint_best", "checkpoint_last", "checkpoint.best_"))


if __name__ == "__main__":
    sys.exit(main())
