"""Build the fairseq-train command of a recipe from its TOML config, print it,
run it (rdrop_recipes/training/plan.py; with ``--slurm-nodes``, an sbatch script).
Behind ``scripts/train-{iwslt14,wmt14,wikitext103}.sh``; flags after ``--`` reach
fairseq-train last.
"""

import argparse
import sys

from rdrop_recipes.config.recipe_config import parse_with_passthrough
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.training import launch


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="train", description=__doc__.splitlines()[0])
    launch.add_arguments(parser)
    return parse_with_passthrough(parser, argv)


@exits_cleanly("train")
def main(argv=None):
    status, _ = launch.train(parse_args(argv))
    return status


if __name__ == "__main__":
    sys.exit(main())
