"""Variants x seeds on one corpus, trained and evaluated by the repository's own
recipes, summarized in one table with sacreBLEU's significance tests.

    scripts/compare.sh --config configs/train-multi30k.toml --eval-config configs/evaluate-multi30k.toml \
        --data DIR --out DIR [--variants baseline,rdrop] [--seeds 1,2]
        [--define NAME="--variant rdrop --reg-alpha 1" ...] [--baseline baseline]
        [--set key=value ...] [--eval-set key=value ...] [--device auto|cpu|cuda]
        [--jobs N] [--bootstrap-samples 1000] [--ar-trials 10000] [--dry-run]

Each run is ``python -m rdrop_recipes.train --config C --variant V --set seed=S
--save-dir OUT/runs/V-seedS ...`` followed by ``python -m rdrop_recipes.evaluate``
on its checkpoint_best.pt into ``OUT/runs/V-seedS/eval/``. ``--variants`` names
variants of the train config (``[variants.NAME]``) or names given by
``--define NAME="train flags"``, which may hold ``--variant``, ``--reg-*`` and
``--set`` (e.g. ``--define alpha1="--variant rdrop --reg-alpha 1"``).
``--set`` applies to every run (``--set max_update=3000``). ``--baseline`` names one of
``--variants``.

Before the first run starts, every run is checked the way its recipes would check it
(its flags and settings, the data, the save dir it resumes, the evaluation's
``--eval-set``), and ``--dry-run`` makes the same checks, so a mistake in the last
variant stops the comparison at once, not after the others have trained.

A run is finished once its training exited cleanly (``trained.json``) and an
evaluation of it is complete (a results folder with ``scores.json``). Running the
same command again skips finished runs, evaluates trained ones, and continues
the others from their ``checkpoint_last.pt`` (fairseq's own resume), so an
interrupted comparison resumes; a run whose settings differ from those it was
started with is refused rather than mixed. A comparison folder may be moved,
and the run folders of two comparisons with the same settings (e.g. one per
seed, on two machines) gathered under one ``OUT/runs/``: they are found
finished. ``--jobs N`` trains N runs at a time, each on cores/N threads on a
CPU or on its own GPU; a failed run starts no others, lets those already going
finish, and then ends the comparison with its error. When every run is finished, the
summary goes to a fresh ``OUT/results/<name>-<timestamp>/`` (built as a hidden
``.partial`` folder and renamed when complete): ``table.md``, ``table.json``
and ``curves.png`` of all runs. Per variant: BLEU of every seed, mean and
sample standard deviation, best valid loss, training wall time (start of each
training attempt to its last log line, summed); per variant and seed against
the baseline of the same seed: sacreBLEU's
paired bootstrap and approximate-randomization p-values.
"""

import argparse
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
    parser.add_argument("--data", help="binarized data folder (default: the train config's)")
    parser.add_argument("--out", required=True, help="comparison folder: runs/ and results/ go here")
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
