"""The options of a training run, shared by ``train`` and the fine-tuning recipes that
train through the same plan (``finetune-cnndm``)."""

from rdrop_recipes.config import recipe_config
from rdrop_recipes.folders import run_dirs
from rdrop_recipes.training import slurm


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
    # the R-Drop options' own declarations (config/declarations.py), as every --set of them
    parser.add_argument("--reg-alpha", type=recipe_config.flag_type("reg_alpha"))
    parser.add_argument("--reg-passes", type=recipe_config.flag_type("reg_passes"))
    parser.add_argument("--reg-kl-direction", type=recipe_config.flag_type("reg_kl_direction"))
    parser.add_argument("--reg-every", type=recipe_config.flag_type("reg_every"))
    parser.add_argument("--reg-dropouts", type=recipe_config.flag_type("reg_dropouts"), metavar="P1,P2")
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
