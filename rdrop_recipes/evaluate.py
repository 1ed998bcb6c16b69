"""Beam search on a test set and BLEU, into a fresh results folder per run.

python -m rdrop_recipes.evaluate --config configs/evaluate-iwslt14.toml [--checkpoint ...] [-- generate flags]
"""

import argparse
import sys

from rdrop_recipes.config.recipe_config import parse_with_passthrough
from rdrop_recipes.evaluation import translation
from rdrop_recipes.process.exit import exits_cleanly


@exits_cleanly("evaluate")
def main(argv=None):
    parser = argparse.ArgumentParser(prog="evaluate", description=__doc__.splitlines()[0])
    translation.add_arguments(parser)
    args = parse_with_passthrough(parser, argv)
    translation.evaluate_bleu(translation.resolve(args), args.name, args.extra, args.keep_averaged)
    return 0


if __name__ == "__main__":
    sys.exit(main())
