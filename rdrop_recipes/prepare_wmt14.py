"""WMT14 English-German, prepared as fairseq's ``prepare-wmt14en2de.sh --icml17`` does,
without perl or git, on all cores.

    scripts/prepare-wmt14en2de.sh [--archive-dir DIR] [--archive FILE ...] [--no-download]
                                  [--out-dir DIR] [--data-bin DIR] [--workers N]
                                  [--bpe-merges N] [--bpe-code FILE] [--set KEY=VALUE ...]
    python -m rdrop_recipes.prepare_wmt14 ...    (the same)

Every parameter is in configs/prepare-wmt14en2de.toml; re-running an interrupted command continues
where it stopped. Details: docs/data-preparation.md, WMT14.
"""

import sys

from rdrop_recipes.preparation.wmt14 import Wmt14Recipe


def main(argv=None) -> int:
    return Wmt14Recipe.main(__doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
