"""The options of a training run, shared by ``train`` and ``finetune-cnndm``."""

from rdrop_recipes.config import recipe_config
from rdrop_recipes.folders import run_dirs
from rdrop_recipes.training import slurm
from rdrop_recipes.training.plan import ABLATION_FLAGS


def add_arguments(parser, config_default=None):
    """``--config`` is required unless the recipe has its own (``config_default``)."""
    if config_default is None:
        parser.add_argument("--config", required=True, help="recipe TOML (configs/train-*.toml)")
    else:
        parser.add_argument("--config", default=config_default, help="recipe TOML")
    parser.add_argument(
        "--variant",
        help="a [variants.NAME] table of the config: rdrop (default) | baseline | doubled-batch | no-kl; "
        "IWSLT14 and Multi30k also rdrop-cutoff | simcut",
    )
    parser.add_argument("--data", help="binarized data folder (fairseq-preprocess output)")
    parser.add_argument(
        "--save-dir", help="checkpoint folder (default: derived from the settings, see run_dirs.py)"
    )
    parser.add_argument(
        run_dirs.ALLOW_FLAG,
        action="store_true",
        help="resume a save dir whose checkpoints were trained with other settings",
    )
    recipe_config.add_set_option(parser, "lr=7e-4")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), help="default: the config's")
    parser.add_argument("--cpu", dest="device", action="store_const", const="cpu", help="--device cpu")
    # checked by the R-Drop options' own declarations (config/declarations.py), as a --set is
    for key in ABLATION_FLAGS:
        metavar = "P1,P2" if key == "reg_dropouts" else None
        parser.add_argument("--" + key.replace("_", "-"), type=recipe_config.flag_type(key), metavar=metavar)
    parser.add_argument(
        "--nnodes", type=recipe_config.at_least(1), default=1, help="nodes; > 1 launches through torchrun"
    )
    parser.add_argument("--node-rank", type=recipe_config.at_least(0), default=0)
    parser.add_argument("--master-addr", help="address of node 0 (with --nnodes > 1)")
    parser.add_argument("--master-port", type=recipe_config.at_least(1, 65535), default=29500)
    parser.add_argument(
        "--gpus-per-node", type=recipe_config.at_least(1), help="default: the GPUs torch sees here"
    )
    parser.add_argument("--dry-run", action="store_true", help="print the command, run nothing")
    slurm.add_arguments(parser)
