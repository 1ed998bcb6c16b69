"""WikiText-103 for word-level language modeling, prepared as fairseq's
``examples/language_model/README.md`` does (the setup the R-Drop paper used).

    scripts/prepare-wikitext103.sh [--archive wikitext-103-v1.zip] [--out-dir DIR]
                                   [--data-bin DIR] [--workers N] [--set KEY=VALUE ...]
    python -m rdrop_recipes.prepare_wikitext103 ...    (the same)

From ``wikitext-103-v1.zip`` (downloaded from the URL of fairseq's
``prepare-wikitext-103.sh`` unless ``--archive PATH`` or env
``WIKITEXT103_ARCHIVE`` names a local copy), ``wikitext-103/wiki.{train,valid,
test}.tokens`` are extracted to OUT_DIR, every member CRC-checked on the way,
and binarized as they are, without BPE (the corpus is already tokenized, rare
words are ``<unk>``)::

    fairseq-preprocess --only-source --trainpref wiki.train.tokens \\
        --validpref wiki.valid.tokens --testpref wiki.test.tokens --workers N

giving ``dict.txt`` and ``{train,valid,test}.{bin,idx}`` in DATA_BIN, the
layout ``--task rdrop_language_modeling`` (and fairseq's ``language_modeling``)
reads. On the real release fairseq-preprocess reports 1,801,350 / 3,760 /
4,358 lines and 103,227,021 / 217,646 / 245,569 tokens (one end-of-line token
per line included) for train / valid / test.

Every parameter is in ``configs/prepare-wikitext103.toml``; ``--set table.key=VALUE``
overrides any of them. Stages write atomically and leave markers in
OUT_DIR/.prepare: re-running an interrupted command continues where it stopped.
Errors a user can fix (a missing, truncated or corrupt archive, an output dir
of another config) print one line and exit with status 2.
"""

import os
import sys
from typing import Optional, Sequence

from rdrop_recipes.preparation import cli as recipe_cli
from rdrop_recipes.preparation.wikitext103 import ARCHIVE_ENV, PROG, Wikitext103Recipe, check_archive


def build_parser():
    parser = recipe_cli.common_parser(PROG, __doc__, bpe=False)
    parser.add_argument(
        "--archive",
        default=os.environ.get(ARCHIVE_ENV) or None,
        help=f"local wikitext-103-v1.zip (download.archive; default ${ARCHIVE_ENV} or a download)",
    )
    return parser


def configure(argv: Optional[Sequence[str]]) -> tuple:
    args = build_parser().parse_args(argv)
    config = recipe_cli.resolve_config(args, {"archive": "download.archive"})
    check_archive(config)
    return config, args.force


def main(argv: Optional[Sequence[str]] = None) -> int:
    return recipe_cli.run_main(PROG, configure, Wikitext103Recipe, argv)


if __name__ == "__main__":
    sys.exit(main())
