"""Summaries of the CNN/DM test set with BART's inference settings and their ROUGE-1/2/L F1
(``rouge-score``), into a fresh results folder."""

import argparse
import sys

from rdrop_recipes.config import recipe_config
from rdrop_recipes.config.recipe_config import parse_with_passthrough
from rdrop_recipes.evaluation.summarization import evaluate_rouge, summarization_config
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.text import gpt2_bpe
from rdrop_recipes.training.hardware import add_device_options


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="evaluate-cnndm", description=__doc__)
    parser.add_argument("--checkpoint", required=True, help="fine-tuned BART checkpoint")
    parser.add_argument("--config", default=recipe_config.default_config_path("finetune-cnndm"))
    parser.add_argument("--data", help="binarized CNN/DM (default: the config's recipe.data)")
    gpt2_bpe.add_options(parser, "encoder.json and vocab.bpe for decoding")
    parser.add_argument("--results-dir", default="results")
    parser.add_argument("--name", help="results folder name (a timestamp is appended)")
    recipe_config.add_set_option(parser, "beam=6")
    add_device_options(parser)
    return parse_with_passthrough(parser, argv)


@exits_cleanly("evaluate-cnndm")
def main(argv=None):
    args = parse_args(argv)
    cfg = summarization_config(args.config, args.assignments, args.data, args.device)
    evaluate_rouge(cfg, args.checkpoint, args.bpe_dir, args.offline, args.results_dir, args.name, args.extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
