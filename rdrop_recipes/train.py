"""Build the fairseq-train command of a recipe from its TOML config, print it,
run it. Behind ``scripts/train-iwslt14.sh``, ``scripts/train-wmt14.sh`` and
``scripts/train-wikitext103.sh``.

    python -m rdrop_recipes.train --config configs/train-iwslt14.toml \
        [--variant rdrop|baseline|doubled-batch|no-kl] [--data DIR] [--save-dir DIR]
        [--reg-alpha A --reg-passes M --reg-kl-direction D --reg-every K --reg-dropouts P1,P2]
        [--set key=value ...] [--device auto|cpu|cuda] [--dry-run]
        [--slurm-nodes N --gpus-per-node G ...] [-- fairseq flags]

Flags after ``--`` are appended last, so argparse in fairseq lets them win. The plan
(config, save dir, update frequency, command) is rdrop_recipes/training/plan.py; with
``--slurm-nodes`` an sbatch script is written instead (rdrop_recipes/training/slurm.py).
"""

import argparse
import sys

from rdrop_recipes.config.command_line import parse_with_passthrough
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.training import arguments, launch


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="train", description=__doc__.splitlines()[0])
    arguments.add_arguments(parser)
    return parse_with_passthrough(parser, argv)


@exits_cleanly("train")
def main(argv=None):
    status, _ = launch.train(parse_args(argv))
    return status


if __name__ == "__main__":
    sys.exit(main())
