"""WMT14 English-German, prepared as fairseq's ``prepare-wmt14en2de.sh --icml17``
does, without perl or git, on all cores.

    scripts/prepare-wmt14en2de.sh [--archive-dir DIR] [--archive FILE ...] [--no-download]
                                  [--out-dir DIR] [--data-bin DIR] [--workers N]
                                  [--bpe-merges N] [--set KEY=VALUE ...]
    python -m rdrop_recipes.prepare_wmt14 ...    (the same)

Train is Europarl v7 + Common Crawl + News Commentary v9 (4.5M pairs), each
line punctuation-normalised (sacremoses' port of normalize-punctuation.perl),
stripped of non-printing characters (Unicode category C -> space) and
Moses-tokenized with aggressive hyphen splitting (``e-mail`` -> ``e @-@ mail``).
Valid is newstest2013 and test the full newstest2014, both read from their
SGML ``<seg>`` lines. One joint BPE (32,000 merges by default) is learned on
train.en+train.de and applied everywhere; train pairs are then cleaned
(clean-corpus-n: 1-250 BPE tokens, ratio 1.5, as fairseq does after BPE) and
``fairseq-preprocess --joined-dictionary`` binarizes the result.

Archives are looked for, in this order: files given with ``--archive PATH``
(recognised by their names: training-parallel-europarl-v7.tgz,
training-parallel-commoncrawl.tgz, training-parallel-nc-v9.tgz, dev.tgz,
test-full.tgz); in ``--archive-dir DIR`` (env ``WMT14_ARCHIVE_DIR``), either
the archives or their already extracted trees; earlier downloads in
OUT_DIR/orig; otherwise they are downloaded from statmt.org.

Tokenization and BPE run on ``--workers`` processes (default: all cores), over
chunks of lines whose order is kept. Every parameter is in
``configs/prepare-wmt14en2de.toml``; ``--set table.key=VALUE`` (or
``table_key=VALUE``) overrides any of them. Stages write atomically and leave
markers in OUT_DIR/.prepare: re-running an interrupted command continues where
it stopped. Errors a user can fix print one line and exit with status 2.
"""

import os
import sys
from typing import Optional, Sequence, Tuple

from rdrop_recipes.preparation import cli as recipe_cli
from rdrop_recipes.preparation.wmt14 import ARCHIVE_DIR_ENV, PROG, Wmt14Recipe


def build_parser():
    parser = recipe_cli.common_parser(PROG, __doc__)
    parser.add_argument(
        "--archive-dir",
        metavar="DIR",
        default=os.environ.get(ARCHIVE_DIR_ENV) or None,
        help=f"folder with the archives or their extracted trees (download.archive_dir; "
        f"default ${ARCHIVE_DIR_ENV})",
    )
    parser.add_argument(
        "--archive",
        dest="archive_files",
        action="append",
        metavar="PATH",
        help="one archive, recognised by its file name (download.archive_files; repeatable)",
    )
    parser.add_argument(
        "--no-download",
        dest="allow_download",
        action="store_false",
        default=None,
        help="fail instead of downloading what is not found locally",
    )
    return parser


def configure(argv: Optional[Sequence[str]]) -> Tuple[dict, bool]:
    args = build_parser().parse_args(argv)
    config = recipe_cli.resolve_config(
        args,
        {
            "archive_dir": "download.archive_dir",
            "archive_files": "download.archive_files",
            "allow_download": "download.allow_download",
        },
    )
    return config, args.force


def main(argv: Optional[Sequence[str]] = None) -> int:
    return recipe_cli.run_main(PROG, configure, Wmt14Recipe, argv)


if __name__ == "__main__":
    sys.exit(main())
