"""IWSLT14 German-English, prepared as fairseq's ``prepare-iwslt14.sh`` does, without perl or git.

    scripts/prepare-iwslt14.sh [--archive de-en.tgz | --from-tokenized DIR] [--out-dir DIR] [--data-bin DIR]
                               [--workers N] [--bpe-merges N] [--bpe-code FILE] [--set KEY=VALUE ...]
    python -m rdrop_recipes.prepare_iwslt14 ...    (the same)

Every parameter is in configs/prepare-iwslt14.toml; re-running an interrupted command continues
where it stopped. Details: docs/data-preparation.md, IWSLT14.
"""

import sys

from rdrop_recipes.preparation.iwslt14 import Iwslt14Recipe


def main(argv=None) -> int:
    return Iwslt14Recipe.main(__doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
