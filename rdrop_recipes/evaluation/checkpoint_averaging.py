"""The mean of the model parameters of several fairseq checkpoints, as one checkpoint:
everything else (config, optimizer history, extra state) from the newest input."""

import os

from rdrop_recipes.fairseq_io.checkpoint_files import check_checkpoint, oldest_to_newest
from rdrop_recipes.folders.atomic_files import atomic_path
from rdrop_recipes.process.errors import RecipeError


def average_state_dicts(state_dicts):
    """Mean of floating tensors key by key (summed in float64: fp16 loses nothing); integer
    buffers from the last state dict."""
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
    import torch

    paths = oldest_to_newest(paths)
    models = []
    for path in paths:
        check_checkpoint(path)
        try:
            # our own training output: it pickles argparse/omegaconf objects that
            # torch's weights_only loader refuses, and it is trusted like any fairseq checkpoint
            state = torch.load(path, map_location="cpu", weights_only=False)
        except Exception as err:  # noqa: BLE001 - whatever torch's unpickler raises on a damaged file
            raise RecipeError(f"checkpoint {path!r} cannot be read ({type(err).__name__}: {err})") from None
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


def check_output(output, inputs, overwrite):
    """Refuse an ``output`` that would destroy an input or a file of the user's."""
    if os.path.realpath(output) in {os.path.realpath(p) for p in inputs}:
        raise RecipeError(f"--output {output} is one of the inputs; write the average to a new file")
    if os.path.isdir(output):
        raise RecipeError(f"--output {output} is a folder; name the file to write, e.g. {output}/avg.pt")
    if os.path.exists(output) and not overwrite:
        raise RecipeError(f"--output {output} already exists; choose a new file or add --overwrite")
