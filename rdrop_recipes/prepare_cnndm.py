"""CNN/DailyMail for BART fine-tuning, as fairseq's BART example prepares it
(``examples/bart/README.summarization.md``): raw cased articles and summaries,
one per line, GPT-2 BPE through fairseq's own encoder, and
``fairseq-preprocess --source-lang source --target-lang target`` with BART's
dictionary on both sides (one dictionary, so ``--share-all-embeddings`` holds).

    scripts/prepare-cnndm.sh [--raw-dir cnn_dm | --archive cnn_dm.tar.gz] [--bpe-dir gpt2_bpe]
        [--offline] [--out-dir cnn_dm-work] [--data-bin data-bin/cnn_dm-bin] [--workers N] [--force]

The raw files are ``{train,val,test}.{source,target}`` as the scripts
fairseq's README points to write them (abisee/cnn-dailymail, or the
artmatsak/cnn-dailymail fork that keeps the text untokenized). No direct
download of them exists; give the folder (``--raw-dir``) or a ``.tar.gz``
holding them, e.g. the widely shared ``cnn_dm.tar.gz`` (``--archive``). The
GPT-2 BPE files are downloaded unless ``--bpe-dir`` holds them. The test
split is binarized too: generation (``scripts/evaluate-cnndm.sh``) reads it.
Stages leave markers in OUT_DIR/.prepare: re-running an interrupted command
continues where it stopped, and a finished one is skipped (``--force`` redoes it).
"""

import argparse
import sys

from rdrop_recipes.preparation.cnndm import PROG, CnnDmRecipe
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.text import gpt2_bpe


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw-dir", help="folder with {train,val,test}.{source,target}")
    parser.add_argument("--archive", help="a .tar.gz holding those six files")
    gpt2_bpe.add_encode_options(parser)
    parser.add_argument("--out-dir", default="cnn_dm-work", help="intermediate text (BPE-encoded splits)")
    parser.add_argument("--data-bin", default="data-bin/cnn_dm-bin", help="fairseq-preprocess output")
    parser.add_argument("--force", action="store_true", help="rebuild a finished --data-bin")
    return parser.parse_args(argv)


@exits_cleanly(PROG, "run the same command again")
def main(argv=None):
    args = parse_args(argv)
    recipe = CnnDmRecipe(args.out_dir, args.data_bin, args.raw_dir, args.archive, args.workers)
    recipe.run(args.bpe_dir, args.offline, args.force)
    return 0


if __name__ == "__main__":
    sys.exit(main())
