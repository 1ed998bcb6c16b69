"""Language-model perplexity with fairseq-eval-lm, into a fresh results folder per run.

python -m rdrop_recipes.evaluate_lm --config configs/evaluate-wikitext103.toml [--subsets valid,test] [...]
"""

import argparse
import sys

from rdrop_recipes.config import recipe_config
from rdrop_recipes.evaluation import perplexity
from rdrop_recipes.evaluation.evaluated_checkpoints import add_run_options
from rdrop_recipes.process.exit import exits_cleanly


@exits_cleanly("evaluate-lm")
def main(argv=None):
    parser = argparse.ArgumentParser(prog="evaluate-lm", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="configs/evaluate-wikitext103*.toml")
    parser.add_argument("--data", help="binarized data folder (fairseq-preprocess --only-source output)")
    parser.add_argument("--subsets", help="comma-separated splits to score (default: the config's)")
    add_run_options(parser)
    recipe_config.add_set_option(parser, "context_window=0")
    args = recipe_config.parse_with_passthrough(parser, argv)
    perplexity.evaluate_perplexity(perplexity.resolve(args), args.name, args.extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
