"""CNN/DailyMail for BART fine-tuning, as fairseq's BART example prepares it
(``examples/bart/README.summarization.md``): GPT-2 BPE, BART's dictionary on both sides.

    scripts/prepare-cnndm.sh [--raw-dir cnn_dm | --archive cnn_dm.tar.gz] [--bpe-dir gpt2_bpe]
        [--offline] [--out-dir cnn_dm-work] [--data-bin data-bin/cnn_dm-bin] [--workers N] [--force]

Details: README.md, CNN/DailyMail with BART."""

import argparse
import sys

from rdrop_recipes.preparation import cnndm
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.text import gpt2_bpe


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=cnndm.PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw-dir", help="folder with {train,val,test}.{source,target}")
    parser.add_argument("--archive", help="a .tar.gz holding those six files")
    gpt2_bpe.add_encode_options(parser)
    parser.add_argument("--out-dir", default="cnn_dm-work", help="intermediate text (BPE-encoded splits)")
    parser.add_argument("--data-bin", default="data-bin/cnn_dm-bin", help="fairseq-preprocess output")
    parser.add_argument("--force", action="store_true", help="rebuild a finished --data-bin")
    return parser.parse_args(argv)


@exits_cleanly(cnndm.PROG, "run the same command again")
def main(argv=None):
    cnndm.prepare(**vars(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
