"""Fine-tune a pre-trained RoBERTa on one GLUE task, baseline or R-Drop, one run per seed."""

import argparse
import sys

from rdrop_recipes.config import recipe_config
from rdrop_recipes.config.recipe_config import parse_with_passthrough
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.training import glue_finetuning, slurm
from rdrop_recipes.training.hardware import add_device_options


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="finetune-glue", description=__doc__)
    parser.add_argument(
        "task", metavar="TASK", nargs="?", help="CoLA, MRPC, RTE, SST-2, MNLI, QNLI, QQP or STS-B"
    )
    parser.add_argument(
        "--config", default=recipe_config.default_config_path("finetune-glue"), help="recipe TOML"
    )
    parser.add_argument("--model", help="roberta.large | roberta.base | PATH to a model.pt (recipe.model)")
    parser.add_argument("--model-archive", help="the model's .tar.gz, already downloaded (offline machines)")
    parser.add_argument("--model-dir", help="where named models are downloaded to (recipe.model_dir)")
    parser.add_argument("--offline", action="store_true", help="never download")
    parser.add_argument("--variant", help="rdrop (default) | baseline")
    parser.add_argument("--seeds", help="comma-separated seeds, one run each (recipe.seeds)")
    parser.add_argument("--data", help="the task's binarized folder (default data-bin/glue/TASK-bin)")
    parser.add_argument("--results-dir")
    parser.add_argument("--name", help="results folder name (a timestamp is appended)")
    recipe_config.add_set_option(parser, "lr=2e-5")
    add_device_options(parser)
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument(
        "--gpus-per-node", type=recipe_config.at_least(1), help="with --slurm-nodes: 1 (one GPU per seed)"
    )
    slurm.add_arguments(
        parser, writes="<results_dir>/<name>-<stamp>/finetune.sbatch, one array task per seed"
    )
    parser.add_argument(
        "--collect",
        metavar="FOLDER",
        help="a SLURM job's results folder: write its scores.json from the seeds' logs (no TASK needed)",
    )
    return parse_with_passthrough(parser, argv)


@exits_cleanly("finetune-glue")
def main(argv=None):
    return glue_finetuning.finetune(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
