"""Multi30k task 1 German-English from its public release, prepared like IWSLT14.

    scripts/prepare-multi30k.sh [--from-dir DIR] [--out-dir DIR] [--data-bin DIR] [--train-pairs N]
                                [--workers N] [--bpe-merges N] [--bpe-code FILE] [--set KEY=VALUE ...]
    python -m rdrop_recipes.prepare_multi30k ...    (the same)

Every parameter is in configs/prepare-multi30k.toml; re-running an interrupted command continues
where it stopped. Details: docs/data-preparation.md, Multi30k.
"""

import sys

from rdrop_recipes.preparation.multi30k import Multi30kRecipe


def main(argv=None) -> int:
    return Multi30kRecipe.main(__doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
