"""GLUE for fairseq's sentence prediction in the layout of fairseq's RoBERTa example
(``examples/roberta/preprocess_GLUE_tasks.sh``): per task ``<data_bin>/<TASK>-bin``.

    scripts/prepare-glue.sh RTE [STS-B ...|ALL] [--glue-dir glue_data]
        [--bpe-dir DIR] [--offline] [--data-bin data-bin/glue] [--workers N] [--force]

Details: README.md, GLUE with RoBERTa."""

import argparse
import sys

from rdrop_recipes.preparation import glue
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.text import gpt2_bpe


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog=glue.PROG, description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("tasks", nargs="+", metavar="TASK", help=f"{', '.join(glue.TASKS)} or ALL")
    parser.add_argument("--glue-dir", default="glue_data", help="raw GLUE (download_glue_data.py layout)")
    parser.add_argument("--archive-dir", help="folder holding <TASK>.zip archives (default: --glue-dir)")
    gpt2_bpe.add_encode_options(parser)
    parser.add_argument("--data-bin", default="data-bin/glue", help="output: <data-bin>/<TASK>-bin")
    parser.add_argument("--force", action="store_true", help="rebuild tasks that are already prepared")
    return parser.parse_args(argv)


@exits_cleanly(glue.PROG, "run the same command again (finished tasks are kept)")
def main(argv=None):
    glue.prepare_tasks(**vars(parse_args(argv)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
