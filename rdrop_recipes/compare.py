r"""Variants x seeds on one corpus, trained and evaluated by the repository's own
recipes, summarized in one table with sacreBLEU's significance tests.

    scripts/compare.sh --config configs/train-multi30k.toml --eval-config configs/evaluate-multi30k.toml \
        --data DIR --out DIR [--variants baseline,rdrop] [--seeds 1,2]
        [--define NAME="--variant rdrop --reg-alpha 1" ...] [--baseline baseline]
        [--set key=value ...] [--eval-set key=value ...] [--device auto|cpu|cuda]
        [--jobs N] [--bootstrap-samples 1000] [--ar-trials 10000] [--dry-run]

Every run is checked before the first one starts; the same command again resumes an interrupted
comparison. Details: docs/training-and-evaluation.md, "Comparing variants over seeds".
"""

import argparse
import os
import shlex
import sys

from rdrop_recipes.comparison.execution import compare
from rdrop_recipes.comparison.plan import DEFAULT_BASELINE
from rdrop_recipes.config.recipe_config import at_least
from rdrop_recipes.process.exit import exits_cleanly

PROG = "compare"


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", required=True, help="train recipe TOML (configs/train-*.toml)")
    parser.add_argument("--eval-config", required=True, help="evaluate recipe TOML (configs/evaluate-*.toml)")
    parser.add_argument(
        "--data", type=os.path.abspath, help="binarized data folder (default: the train config's)"
    )
    parser.add_argument(
        "--out", type=os.path.abspath, required=True, help="comparison folder: runs/ and results/ go here"
    )
    parser.add_argument("--variants", default="baseline,rdrop", help="comma-separated (default %(default)s)")
    parser.add_argument("--seeds", default="1,2", help="comma-separated integers (default %(default)s)")
    parser.add_argument(
        "--define",
        action="append",
        default=[],
        metavar='NAME="FLAGS"',
        help='a named variant made of train flags, e.g. alpha1="--variant rdrop --reg-alpha 1"',
    )
    parser.add_argument(
        "--baseline",
        help=f"the variant the others are tested against, one of --variants (default {DEFAULT_BASELINE})",
    )
    parser.add_argument(
        "--set", dest="assignments", action="append", default=[], metavar="KEY=VALUE", help="for every run"
    )
    parser.add_argument(
        "--eval-set", action="append", default=[], metavar="KEY=VALUE", help="for every evaluation"
    )
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs trained at a time (default %(default)s): on cpu each gets cores/N threads "
        "(unless OMP_NUM_THREADS is set), on cuda one GPU each (from CUDA_VISIBLE_DEVICES, else 0..N-1)",
    )
    parser.add_argument("--name", default="comparison", help="results folder name (a timestamp is added)")
    parser.add_argument("--bootstrap-samples", type=at_least(1), default=1000)
    parser.add_argument("--ar-trials", type=at_least(1), default=10000)
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="list the runs and their state, run nothing (after the checks the real run makes first)",
    )
    return parser.parse_args(argv)


@exits_cleanly(PROG)
def main(argv=None):
    args = parse_args(argv)
    compare(args, shlex.join(["scripts/compare.sh"] + (sys.argv[1:] if argv is None else list(argv))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
