"""The quickstart: a short R-Drop training and a BLEU evaluation on a synthetic corpus, on the CPU,
in a few minutes (``rdrop_recipes.toy.quickstart_run``).

    python -m rdrop_recipes.quickstart [--out runs/quickstart] [--updates 400]
"""

import argparse
import os
import sys

from rdrop_recipes.config import recipe_config
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
    parser.add_argument("--updates", type=recipe_config.at_least(1), default=400)
    parser.add_argument("--alpha", type=recipe_config.flag_type("reg_alpha"), default=5.0)
    args = parser.parse_args(argv)
    run_quickstart(os.path.abspath(args.out), args.updates, args.alpha)


if __name__ == "__main__":
    sys.exit(main())
