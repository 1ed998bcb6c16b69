"""Command line of the config-driven preparation recipes. Dedicated flags are shorthands
for ``--set`` of one config key, applied after the ``--set`` list: a flag wins."""

import argparse
import os
from typing import Callable, Dict, Optional, Sequence, Tuple

from rdrop_recipes.config import recipe_config
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.text.parallel_lines import default_workers

# flag destination -> config key
COMMON_FLAGS: Dict[str, str] = {
    "out_dir": "paths.out_dir",
    "data_bin": "paths.data_bin",
    "workers": "run.workers",
    "bpe_merges": "bpe.merges",
    "bpe_code": "bpe.code",
}


def common_parser(prog: str, description: str, bpe: bool = True) -> argparse.ArgumentParser:
    """The flags every recipe has (its config: configs/<prog>.toml); ``bpe=False`` leaves out
    the BPE ones (word-level corpora)."""
    parser = argparse.ArgumentParser(
        prog=prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--config",
        default=recipe_config.default_config_path(prog),
        help="TOML with every parameter (default: %(default)s)",
    )
    recipe_config.add_set_option(parser, "bpe.merges=8000" if bpe else "run.workers=8")
    parser.add_argument("--out-dir", help="text output and intermediates (paths.out_dir)")
    parser.add_argument("--data-bin", help="fairseq-preprocess output dir (paths.data_bin)")
    parser.add_argument(
        "--workers", type=int, help=f"worker processes (run.workers; 0 = all {default_workers()} cores)"
    )
    if bpe:
        parser.add_argument("--bpe-merges", type=int, help="number of joint BPE merges (bpe.merges)")
        parser.add_argument("--bpe-code", help="apply this BPE code instead of learning one (bpe.code)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="redo every stage even if the output dir holds another config's data",
    )
    return parser


# the smallest value that can work, checked before any stage starts (a zero merge count
# would fail only after tokenizing; valid_every = 1 leaves no training data)
LOWER_BOUNDS: Dict[str, float] = {
    "bpe.merges": 1,
    "bpe.min_frequency": 1,
    "run.workers": 0,
    "run.progress_every": 1,
    "split.valid_every": 2,
    "clean.ratio": 1.0,
    "clean.min_tokens": 0,
    "clean.max_tokens": 1,
    "clean.max_word_length": 1,
}


def check_bounds(config: dict) -> None:
    for key, minimum in LOWER_BOUNDS.items():
        table, _, leaf = key.partition(".")
        value = config.get(table, {}).get(leaf)
        if value is not None and not value >= minimum:
            raise RecipeError(
                f"{key} = {value} cannot work: it must be >= {minimum}; fix it with --set {key}=N"
            )
    clean = config.get("clean", {})
    if clean.get("min_tokens", 0) > clean.get("max_tokens", float("inf")):
        # every pair would be cleaned away, after hours of tokenizing
        raise RecipeError(
            f"clean.min_tokens = {clean['min_tokens']} is above clean.max_tokens = {clean['max_tokens']}: "
            "no sentence pair could be kept; fix one with --set clean.min_tokens=N or clean.max_tokens=N"
        )


def resolve_config(args: argparse.Namespace, flags: Dict[str, str]) -> dict:
    config = recipe_config.apply_overrides(recipe_config.load(args.config), args.assignments)
    for dest, key in {**COMMON_FLAGS, **flags}.items():
        value = getattr(args, dest, None)
        if value is not None:
            recipe_config.set_value(config, key, value)
    check_bounds(config)
    code = config.get("bpe", {}).get("code")
    if code and not os.path.isfile(code):  # read only at the BPE stage, after hours of tokenizing
        raise RecipeError(f"BPE code {code} not found; fix --bpe-code / bpe.code")
    if config["run"]["workers"] == 0:
        config["run"]["workers"] = default_workers()
    return config


def run_main(
    prog: str,
    configure: Callable[[Optional[Sequence[str]]], Tuple[dict, bool]],
    recipe_class: type,
    argv: Optional[Sequence[str]] = None,
) -> int:
    """``configure(argv)`` gives (config, force); returns the exit status."""

    @exits_cleanly(prog, "run the same command again to continue (finished stages are kept)")
    def main(argv):
        config, force = configure(argv)
        recipe_class(config).run(force)

    return main(argv)
