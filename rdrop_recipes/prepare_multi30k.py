"""Multi30k task 1 German-English from its public release, prepared like IWSLT14.

    scripts/prepare-multi30k.sh [--from-dir DIR] [--out-dir DIR] [--data-bin DIR]
                                [--train-pairs N] [--workers N] [--bpe-merges N] [--set KEY=VALUE ...]
    python -m rdrop_recipes.prepare_multi30k ...    (the same)

The release (github.com/multi30k/dataset, ``data/task1/raw``) has one gzipped
text file per split and language: ``train``, ``val`` and ``test_2016_flickr``
(29,000 / 1,014 / 1,000 pairs). They are downloaded, or read offline from
``--from-dir DIR``, which may hold those ``.gz`` files or the unzipped text
under the release names or as ``train``/``valid``/``test`` (``DIR/valid.de``).
Every line is Moses-tokenized and lowercased as in the IWSLT14 recipe, one
joint BPE code is learned on train (8,000 merges, see the config) and applied
to all splits, and ``fairseq-preprocess --joined-dictionary`` binarizes them.
``--train-pairs N`` keeps the first N train pairs only.

Every parameter is in ``configs/prepare-multi30k.toml``. Stages write atomically
and leave markers in OUT_DIR/.prepare: re-running an interrupted command
continues where it stopped. A missing or damaged file prints one line naming
it and exits with status 2.
"""

import sys
from typing import Optional, Sequence

from rdrop_recipes.preparation import cli as recipe_cli
from rdrop_recipes.preparation.multi30k import PROG, Multi30kRecipe
from rdrop_recipes.process.errors import PrepareError


def build_parser():
    parser = recipe_cli.common_parser(PROG, __doc__)
    parser.add_argument(
        "--from-dir",
        metavar="DIR",
        help="read the release from DIR (.gz or unzipped) instead of downloading (download.from_dir)",
    )
    parser.add_argument("--train-pairs", type=int, help="keep the first N train pairs (subset.train_pairs)")
    return parser


def configure(argv: Optional[Sequence[str]]) -> tuple:
    args = build_parser().parse_args(argv)
    config = recipe_cli.resolve_config(
        args, {"from_dir": "download.from_dir", "train_pairs": "subset.train_pairs"}
    )
    if config["subset"]["train_pairs"] < 0:
        raise PrepareError("--train-pairs must be 0 (all) or a positive number of pairs")
    return config, args.force


def main(argv: Optional[Sequence[str]] = None) -> int:
    return recipe_cli.run_main(PROG, configure, Multi30kRecipe, argv)


if __name__ == "__main__":
    sys.exit(main())
