"""The quickstart: a short R-Drop training and a BLEU evaluation on a synthetic corpus, on the CPU,
in a few minutes (``rdrop_recipes.toy.quickstart_run``).

    python -m rdrop_recipes.quickstart [--out runs/quickstart] [--updates 400]
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
