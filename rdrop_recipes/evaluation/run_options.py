"""The command line the checkpoint evaluations (BLEU, perplexity) share."""

from rdrop_recipes.config import recipe_config


def add_run_options(parser):
    """The options ``resolve`` reads besides --config, --data and --set."""
    parser.add_argument("--checkpoint", nargs="+", help="file(s), glob(s) or folder; several are averaged")
    parser.add_argument(
        "--average-last", type=recipe_config.at_least(0), help="average the N newest numbered checkpoints"
    )
    parser.add_argument("--name", help="results folder name (a timestamp is appended)")
    parser.add_argument("--results-dir")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"))


def resolve(args, flag_table):
    """The config with ``--set`` into [recipe] or ``flag_table``, the named options into [recipe]."""
    cfg = recipe_config.apply_overrides(recipe_config.load(args.config), args.assignments, (flag_table,))
    recipe = cfg["recipe"]
    for key in ("data", "results_dir", "device", "name"):
        if getattr(args, key, None):
            recipe[key] = getattr(args, key)
    if args.checkpoint:
        recipe["checkpoints"] = args.checkpoint
    if args.average_last is not None:
        recipe["average_last"] = args.average_last
    return cfg
