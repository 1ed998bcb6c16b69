"""IWSLT14 German-English, prepared as fairseq's ``prepare-iwslt14.sh`` does,
without perl or git.

    scripts/prepare-iwslt14.sh [--archive de-en.tgz] [--out-dir DIR] [--data-bin DIR]
                               [--workers N] [--bpe-merges N] [--set KEY=VALUE ...]
    python -m rdrop_recipes.prepare_iwslt14 ...    (the same)

From ``de-en.tgz`` of the IWSLT 2014-01 release (downloaded from fairseq's
mirror unless ``--archive PATH`` or env ``IWSLT14_ARCHIVE`` names a local
copy): train lines with ``<url>``/``<talkid>``/``<keywords>`` are dropped and
``<title>``/``<description>`` tags stripped; dev/test sentences are the
``<seg id>`` lines of the XML files. Everything is Moses-tokenized
(sacremoses, escaping on as in tokenizer.perl); train pairs are cleaned
(clean-corpus-n: 1-175 tokens, ratio 1.5); all is lowercased. Every 23rd
cleaned train pair becomes valid; test is dev2010+dev2012+tst2010-2012.
One joint BPE (10,000 merges) is learned on train.de+train.en and applied to
all splits; ``fairseq-preprocess --joined-dictionary`` binarizes the result.
The full release gives 160,239 train / 7,283 valid / 6,750 test pairs.

``--from-tokenized DIR`` starts at BPE from DIR/{train,valid,test}.{de,en}
(already tokenized and lowercased, e.g. the shared ``iwslt14_subset``);
``--bpe-code FILE`` applies an existing code instead of learning one.

Every parameter is in ``configs/prepare-iwslt14.toml``; ``--set table.key=VALUE``
(or ``table_key=VALUE``) overrides any of them, e.g. ``--set bpe.merges=8000``.
Stages write atomically and leave markers in OUT_DIR/.prepare: re-running an
interrupted command continues where it stopped. Errors a user can fix
(missing or corrupt archive, an output dir of another config) print one line
and exit with status 2.
"""

import os
import sys
from typing import Optional, Sequence

from rdrop_recipes.preparation import cli as recipe_cli
from rdrop_recipes.preparation.iwslt14 import ARCHIVE_ENV, PROG, Iwslt14Recipe, check_archive


def build_parser():
    parser = recipe_cli.common_parser(PROG, __doc__)
    parser.add_argument(
        "--archive",
        default=os.environ.get(ARCHIVE_ENV) or None,
        help=f"local de-en.tgz (download.archive; default ${ARCHIVE_ENV} or a download)",
    )
    parser.add_argument(
        "--from-tokenized",
        metavar="DIR",
        help="start at BPE from DIR/{train,valid,test}.{de,en} (input.from_tokenized)",
    )
    return parser


def configure(argv: Optional[Sequence[str]]) -> tuple:
    args = build_parser().parse_args(argv)
    config = recipe_cli.resolve_config(
        args, {"archive": "download.archive", "from_tokenized": "input.from_tokenized"}
    )
    check_archive(config)
    return config, args.force


def main(argv: Optional[Sequence[str]] = None) -> int:
    return recipe_cli.run_main(PROG, configure, Iwslt14Recipe, argv)


if __name__ == "__main__":
    sys.exit(main())
