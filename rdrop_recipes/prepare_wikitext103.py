"""WikiText-103 for word-level language modeling, prepared as fairseq's
``examples/language_model/README.md`` does (the setup the R-Drop paper used): no BPE.

    scripts/prepare-wikitext103.sh [--archive wikitext-103-v1.zip] [--out-dir DIR]
                                   [--data-bin DIR] [--workers N] [--set KEY=VALUE ...]
    python -m rdrop_recipes.prepare_wikitext103 ...    (the same)

Every parameter is in configs/prepare-wikitext103.toml; re-running an interrupted command continues
where it stopped. Details: docs/data-preparation.md, WikiText-103.
"""

import sys

from rdrop_recipes.preparation.wikitext103 import Wikitext103Recipe


def main(argv=None) -> int:
    return Wikitext103Recipe.main(__doc__, argv)


if __name__ == "__main__":
    sys.exit(main())
