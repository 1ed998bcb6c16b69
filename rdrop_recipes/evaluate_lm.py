"""Language-model perplexity with fairseq-eval-lm, into a fresh results folder per run.

    python -m rdrop_recipes.evaluate_lm --config configs/evaluate-wikitext103.toml \\
        [--checkpoint PATH|GLOB|DIR ...] [--average-last N] [--data DIR] [--subsets valid,test]
        [--name NAME] [--results-dir DIR] [--set key=value ...] [--device auto|cpu|cuda | --cpu]
        [-- fairseq-eval-lm flags]

Each subset (valid and test by default) is scored by

    fairseq-eval-lm DATA --user-dir rdrop_fairseq --path CKPT --gen-subset SUBSET [eval_lm table]

with the ``[eval_lm]`` table of the config as flags (the context window of
fairseq's language-model READMEs). The perplexity is fairseq's: 2 to the
mean negative log2-likelihood per token, every token of the subset counted
once, end-of-line tokens included. fairseq-eval-lm silently skips samples
longer than the model's positions; the number of tokens it scored is
therefore checked against the subset's size in ``SUBSET.idx``, and a
shortfall is an error rather than the perplexity of part of the data.

As in ``rdrop_recipes.evaluate``, a run builds
``<results_dir>/.<name>-<timestamp>.partial/`` (one ``eval-lm.<subset>.log``
per subset) and renames it to ``<results_dir>/<name>-<timestamp>/`` only once
``scores.json`` is written; a failed run keeps its partial folder for inspection.
"""

import argparse
import sys

from rdrop_recipes.config import recipe_config
from rdrop_recipes.config.command_line import parse_with_passthrough
from rdrop_recipes.evaluation import run_options
from rdrop_recipes.evaluation.perplexity import FLAG_TABLE, evaluate_perplexity
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="evaluate-lm", description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="configs/evaluate-wikitext103*.toml")
    parser.add_argument("--data", help="binarized data folder (fairseq-preprocess --only-source output)")
    parser.add_argument("--subsets", help="comma-separated splits to score (default: the config's)")
    run_options.add_run_options(parser)
    parser.add_argument("--cpu", dest="device", action="store_const", const="cpu", help="--device cpu")
    recipe_config.add_set_option(parser, "context_window=0")
    return parse_with_passthrough(parser, argv)


def resolve(args):
    cfg = run_options.resolve(args, FLAG_TABLE)
    recipe = cfg["recipe"]
    if args.subsets:
        recipe["subsets"] = [s for s in args.subsets.split(",") if s]
    if not recipe.get("subsets"):
        raise RecipeError("no subset to evaluate; pass --subsets valid,test")
    return cfg


@exits_cleanly("evaluate-lm")
def main(argv=None):
    args = parse_args(argv)
    evaluate_perplexity(resolve(args), args.name, args.extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
