"""Command-line plumbing shared by the data-preparation recipes.

Dedicated flags are shorthands for ``--set`` of one config key; they are
applied after the ``--set`` list, so a flag wins over a ``--set`` of the same key.
"""

import argparse
import sys
from typing import Callable, Dict, Optional, Sequence, Tuple

from . import config as recipe_config
from .errors import RecipeError, report
from .parallel_lines import default_workers

# flag destination -> config key; shared by every recipe
COMMON_FLAGS: Dict[str, str] = {
    "out_dir": "paths.out_dir",
    "data_bin": "paths.data_bin",
    "workers": "run.workers",
    "bpe_merges": "bpe.merges",
    "bpe_code": "bpe.code",
}


def common_parser(prog: str, description: str, recipe: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config",
        default=recipe_config.default_config_path(recipe),
        help="TOML with every parameter (default: %(default)s)",
    )
    recipe_config.add_set_option(parser, "bpe.merges=8000")
    parser.add_argument("--out-dir", help="text output and intermediates (paths.out_dir)")
    parser.add_argument("--data-bin", help="fairseq-preprocess output dir (paths.data_bin)")
    parser.add_argument(
        "--workers", type=int, help=f"worker processes (run.workers; 0 = all {default_workers()} cores)"
    )
    parser.add_argument("--bpe-merges", type=int, help="number of joint BPE merges (bpe.merges)")
    parser.add_argument("--bpe-code", help="apply this BPE code instead of learning one (bpe.code)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="redo every stage even if the output dir holds another config's data",
    )
    return parser


def resolve_config(args: argparse.Namespace, flags: Dict[str, str]) -> dict:
    config = recipe_config.apply_overrides(recipe_config.load(args.config), args.assignments)
    for dest, key in {**COMMON_FLAGS, **flags}.items():
        value = getattr(args, dest, None)
        if value is not None:
            recipe_config.set_value(config, key, value)
    if config["run"]["workers"] <= 0:
        config["run"]["workers"] = default_workers()
    return config


def run_main(
    prog: str,
    configure: Callable[[Optional[Sequence[str]]], Tuple[dict, bool]],
    recipe_class: type,
    argv: Optional[Sequence[str]] = None,
) -> int:
    """Run a recipe: ``configure(argv)`` gives (config, force)."""
    try:
        config, force = configure(argv)
        recipe_class(config).run(force)
    except RecipeError as err:
        return report(prog, err)
    except KeyboardInterrupt:
        print(
            f"{prog}: interrupted; run the same command again to continue (finished stages are kept)",
            file=sys.stderr,
        )
        return 130
    return 0
