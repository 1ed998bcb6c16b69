"""GLUE for fairseq's sentence prediction, as fairseq's RoBERTa example lays
it out (``examples/roberta/preprocess_GLUE_tasks.sh``): per task a folder
``<data_bin>/<TASK>-bin`` with ``input0/`` (and ``input1/``) GPT-2-BPE encoded
and binarized with the model's dictionary, and ``label/`` (a label dictionary,
or for STS-B the scores divided by 5 in ``label/{train,valid}.label``).

    scripts/prepare-glue.sh RTE [STS-B ...|ALL] [--glue-dir glue_data]
        [--bpe-dir DIR] [--offline] [--data-bin data-bin/glue] [--workers N] [--force]

The raw data is what ``download_glue_data.py`` (linked from fairseq's
README.glue.md) writes: ``<glue_dir>/<TASK>/{train,dev,test}.tsv`` (MNLI:
``dev_matched``, ``dev_mismatched``, ...). A task folder missing there is
downloaded from the GLUE mirror (not MRPC, which has no single archive) or
taken from ``--archive-dir`` holding ``<TASK>.zip``. Before any column is cut, every
split must hold examples in UTF-8, and every train and dev row the task's columns and one
of its labels (STS-B: a 0-5 score); the first that does not is named by file and line,
and nothing is marked done. Each task is built in
``<TASK>-bin.tmp`` and swapped in whole. The intermediate text goes to
``<glue_dir>/<TASK>/processed``, whose ``.prepare`` folder marks the finished
stages: a re-run continues an interrupted task and skips a finished one
(``--force`` rebuilds it).
"""

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
    args = parse_args(argv)
    glue.prepare_tasks(
        args.tasks,
        args.bpe_dir,
        args.offline,
        args.force,
        glue_dir=args.glue_dir,
        data_bin=args.data_bin,
        archive_dir=args.archive_dir,
        workers=args.workers,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
