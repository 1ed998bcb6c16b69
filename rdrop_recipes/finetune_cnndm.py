"""Fine-tune BART on CNN/DailyMail with R-Drop (or the baseline), then score ROUGE on the test set;
every option of ``rdrop_recipes.train`` works here too."""

import argparse
import sys

from rdrop_recipes.config import recipe_config
from rdrop_recipes.config.recipe_config import parse_with_passthrough
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.training import bart_finetuning, launch


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="finetune-cnndm", description=__doc__)
    parser.add_argument("--model", default="bart.large", help="bart.large | bart.base | PATH to a model.pt")
    parser.add_argument("--model-archive", help="the model's .tar.gz, already downloaded (offline machines)")
    parser.add_argument("--model-dir", default="models", help="where named models are downloaded to")
    parser.add_argument("--offline", action="store_true", help="never download")
    parser.add_argument("--no-eval", action="store_true", help="train only")
    parser.add_argument("--bpe-dir", default="gpt2_bpe", help="GPT-2 BPE files, to decode summaries")
    parser.add_argument("--results-dir", default="results")
    launch.add_arguments(parser, config_default=recipe_config.default_config_path("finetune-cnndm"))
    return parse_with_passthrough(parser, argv)


@exits_cleanly("finetune-cnndm")
def main(argv=None):
    return bart_finetuning.finetune_then_evaluate(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
