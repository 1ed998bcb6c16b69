"""The quickstart's ``--out`` folder: taken only when new, empty or an earlier
quickstart's (marked by ``markers.QUICKSTART_MARKER``), so a rerun replaces the
quickstart's own outputs and nothing of the user's is ever deleted."""

import os
import shutil

from rdrop_recipes.folders.markers import QUICKSTART_MARKER, SCORES
from rdrop_recipes.process.errors import RecipeError

# what a run writes into --out; a rerun into a marked folder removes these and nothing else
OUTPUTS = (SCORES, "raw", "bin", "checkpoints", "preprocess.log", "train.log", "generate.log")


def claim_out_dir(out):
    """Make ``out`` a fresh quickstart folder without deleting anything the user owns:
    a new or empty folder is taken and marked; a marked one (an earlier quickstart's)
    loses only the quickstart's own outputs; any other folder is refused."""
    if os.path.exists(out) and not os.path.isdir(out):
        raise RecipeError(f"--out {out} is a file; pass a folder that does not exist yet")
    marker = os.path.join(out, QUICKSTART_MARKER)
    if os.path.isdir(out) and os.listdir(out) and not os.path.isfile(marker):
        raise RecipeError(
            f"--out {out} already holds files the quickstart did not write; "
            "pass a new or empty folder (nothing was changed)"
        )
    os.makedirs(out, exist_ok=True)
    with open(marker, "w", encoding="utf-8") as handle:
        handle.write("written by python -m rdrop_recipes.quickstart; a re-run replaces its outputs\n")
    for name in OUTPUTS:  # scores.json first: a half-redone folder must not look finished
        path = os.path.join(out, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.remove(path)
