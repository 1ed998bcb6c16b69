"""Training curves from fairseq-train logs, runs side by side (cf. the R-Drop
paper's Figure 2), against updates and wall-clock time.

    python -m rdrop_recipes.curves LOG_OR_SAVE_DIR [...] --out curves.png [--labels a,b]
"""

import argparse
import sys

from rdrop_recipes.evaluation.training_curves import parse_log, plot
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="plot-curves", description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="fairseq-train logs, or save dirs holding train.log")
    parser.add_argument("--out", default="curves.png", help="PNG to write (default curves.png)")
    parser.add_argument("--labels", help="comma-separated run names, in the order of the logs")
    parser.add_argument("--title")
    return parser.parse_args(argv)


@exits_cleanly("plot-curves")
def main(argv=None):
    args = parse_args(argv)
    labels = args.labels.split(",") if args.labels else [None] * len(args.logs)
    if len(labels) != len(args.logs):
        raise RecipeError(f"--labels names {len(labels)} runs but {len(args.logs)} logs were given")
    runs = [parse_log(path, label) for path, label in zip(args.logs, labels)]
    for run in runs:
        print(
            f"plot-curves: {run.label}: {len(run.train_records())} train and {len(run.valid)} valid "
            f"records from {run.path}",
            flush=True,
        )
    plot(runs, args.out, args.title)
    print(f"plot-curves: wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
