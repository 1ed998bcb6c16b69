"""Training curves from fairseq-train logs, runs side by side (cf. the R-Drop
paper's Figure 2): train NLL loss, valid loss, KL and valid BLEU against
updates (top row) and against wall-clock time (bottom row).

    python -m rdrop_recipes.curves LOG_OR_SAVE_DIR [...] --out curves.png [--labels a,b]

Reads what fairseq writes with --log-format simple, tqdm or json, whether the
lines carry the console prefix (``2024-01-01 12:00:00 | INFO | train_inner |``)
or not (the --log-file copy). Each record is keyed by num_updates, so a resumed
run that appended to the same log, or a record fairseq prints twice, counts once.
"""

import argparse
import sys

from rdrop_recipes.evaluation.curves_figure import plot
from rdrop_recipes.evaluation.training_curves import parse_log
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
