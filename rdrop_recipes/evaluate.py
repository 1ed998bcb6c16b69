"""Beam search on a test set and BLEU, into a fresh results folder per run.

    python -m rdrop_recipes.evaluate --config configs/evaluate-iwslt14.toml \
        [--checkpoint PATH|GLOB|DIR ...] [--average-last N] [--data DIR] [--name NAME]
        [--results-dir DIR] [--set key=value ...] [--device auto|cpu|cuda] [-- generate flags]

A run builds ``<results_dir>/.<name>-<timestamp>.partial/`` and renames it to
``<results_dir>/<name>-<timestamp>/`` only once ``scores.json`` is written, so
a folder without the leading dot and ``.partial`` is always a finished run;
a failed run keeps its partial folder (with generate.log) for inspection.
Nothing is ever appended to an earlier run's files.
"""

import argparse
import sys

from rdrop_recipes.config.command_line import parse_with_passthrough
from rdrop_recipes.evaluation import translation
from rdrop_recipes.process.exit import exits_cleanly


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="evaluate", description=__doc__.splitlines()[0])
    translation.add_arguments(parser)
    return parse_with_passthrough(parser, argv)


@exits_cleanly("evaluate")
def main(argv=None):
    args = parse_args(argv)
    translation.evaluate_bleu(translation.resolve(args), args.name, args.extra, args.keep_averaged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
