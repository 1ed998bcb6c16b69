"""The quickstart: a short R-Drop training and a BLEU evaluation on a synthetic
corpus written on the fly, on the CPU, in a few minutes.

    python -m rdrop_recipes.quickstart [--out runs/quickstart] [--updates 400]

Steps: write the corpus -> fairseq-preprocess -> fairseq-train with
``--task rdrop_translation --criterion reg_label_smoothed_cross_entropy
--reg-alpha 5`` -> fairseq-generate (beam 5) -> ``scores.json``. Each step
runs the real fairseq command line (printed first), so the quickstart also
shows what a real run looks like. ``--out`` must be a new or empty folder,
or an earlier quickstart's (marked by ``.rdrop-quickstart``), where a rerun
replaces the quickstart's own outputs and nothing else; any other folder is
refused, so nothing of yours is ever deleted. The results file is written
last, atomically.
"""

import argparse
import os
import sys

from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.toy.quickstart_run import run_quickstart


@exits_cleanly("quickstart")
def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="quickstart", description="R-Drop quickstart on a synthetic corpus (CPU)"
    )
    parser.add_argument(
        "--out", default="runs/quickstart", help="a new or empty folder (or an earlier run's)"
    )
    parser.add_argument("--updates", type=int, default=400)
    parser.add_argument("--alpha", type=float, default=5.0)
    args = parser.parse_args(argv)
    if args.updates < 1:
        raise RecipeError(f"--updates must be >= 1 (got {args.updates})")
    if not args.alpha >= 0:
        raise RecipeError(f"--alpha must be >= 0 (got {args.alpha})")
    run_quickstart(os.path.abspath(args.out), args.updates, args.alpha)


if __name__ == "__main__":
    sys.exit(main())
