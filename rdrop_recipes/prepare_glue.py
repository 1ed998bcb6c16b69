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
taken from ``--archive-dir`` holding ``<TASK>.zip``. Each task is built in
``<TASK>-bin.tmp`` and swapped in whole; a finished one is skipped on re-runs
(``--force`` rebuilds it).
"""

import argparse
import itertools
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from rdrop_recipes.downloads.archives import download, extract_zip_members
from rdrop_recipes.folders.atomic_files import (
    TMP_SUFFIX,
    concatenate,
    count_lines,
    read_lines,
    replace_dir,
    write_json,
    write_lines,
)
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.text import gpt2_bpe
from rdrop_recipes.text.parallel_lines import default_workers

GLUE_URL = "https://dl.fbaipublicfiles.com/glue/data/{archive}.zip"
DONE = "prepared.json"


@dataclass(frozen=True)
class GlueTask:
    """Columns (1-based, as ``cut -f`` counts) of fairseq's preprocess script."""

    inputs: Tuple[int, ...]
    test_inputs: Tuple[int, ...]
    label: int
    dev_label: Optional[int] = None
    splits: Tuple[str, ...] = ("train", "dev", "test")
    header: bool = True  # CoLA's train and dev have none
    fields: Optional[int] = None  # QQP: drop train/dev lines without this many fields
    archive: Optional[str] = None  # name of the GLUE mirror's zip (None: no single archive)


TASKS = {
    "QQP": GlueTask((4, 5), (2, 3), 6, fields=6, archive="QQP-clean"),
    "MNLI": GlueTask(
        (9, 10),
        (9, 10),
        12,
        dev_label=16,
        splits=("train", "dev_matched", "dev_mismatched", "test_matched", "test_mismatched"),
        archive="MNLI",
    ),
    "QNLI": GlueTask((2, 3), (2, 3), 4, archive="QNLIv2"),
    "MRPC": GlueTask((4, 5), (4, 5), 1),
    "RTE": GlueTask((2, 3), (2, 3), 4, archive="RTE"),
    "STS-B": GlueTask((8, 9), (8, 9), 10, archive="STS-B"),
    "SST-2": GlueTask((1,), (2,), 2, archive="SST-2"),
    "CoLA": GlueTask((4,), (2,), 2, header=False, archive="CoLA"),
}
REGRESSION = ("STS-B",)


def task_names(requested: Sequence[str]):
    names = []
    for name in requested:
        if name == "ALL":
            names += list(TASKS)
        elif name in TASKS:
            names.append(name)
        else:
            raise PrepareError(f"unknown GLUE task {name!r}; choose from {', '.join(TASKS)} or ALL")
    return list(dict.fromkeys(names))


def cut(line: str, column: int) -> str:
    # a stray \r would split the line in fairseq's encoder (it reads with universal newlines)
    fields = line.replace("\r", " ").split("\t")
    # `cut -f N` prints a line without any tab whole, and an empty field where N is missing
    if len(fields) == 1:
        return fields[0]
    return fields[column - 1] if column <= len(fields) else ""


class GluePreparer:
    def __init__(self, args, out=None):
        self.args = args
        self.out = out or sys.stdout
        self.workers = args.workers or default_workers()

    def say(self, text: str) -> None:
        print(f"    {text}", file=self.out, flush=True)

    def raw_folder(self, name: str) -> str:
        folder = os.path.join(self.args.glue_dir, name)
        spec = TASKS[name]
        wanted = [os.path.join(folder, f"{split}.tsv") for split in spec.splits]
        if all(os.path.isfile(path) for path in wanted):
            return folder
        if spec.archive is None:
            raise PrepareError(
                f"{folder} lacks {', '.join(os.path.basename(p) for p in wanted if not os.path.isfile(p))}; "
                f"{name} has no single archive: run download_glue_data.py (fairseq's README.glue.md) and "
                "pass --glue-dir"
            )
        archive = os.path.join(self.args.archive_dir or self.args.glue_dir, f"{name}.zip")
        fix = f"put the GLUE {name}.zip into --archive-dir, or the unpacked {name}/ folder into --glue-dir"
        if not os.path.isfile(archive):
            if self.args.offline:
                raise PrepareError(f"{folder} lacks {name}'s .tsv files and {archive} is missing; {fix}")
            download(GLUE_URL.format(archive=spec.archive), archive, fix, self.out)
        extract_zip_members(
            archive,
            {f"{name}/{split}.tsv": os.path.join(folder, f"{split}.tsv") for split in spec.splits},
            fix,
        )
        return folder

    def split_columns(self, name: str, raw: str, work: str) -> None:
        """``<split>.raw.input{0,1}`` and ``<split>.label`` as the shell script's cut/awk make them."""
        spec = TASKS[name]
        for split in spec.splits:
            lines = list(read_lines(os.path.join(raw, f"{split}.tsv")))
            test = split.startswith("test")
            if spec.header or test:
                lines = lines[1:]
            if spec.fields and not test:
                lines = [line for line in lines if len(line.split("\t")) == spec.fields]
            columns = spec.test_inputs if test else spec.inputs
            for number, column in enumerate(columns):
                write_lines(os.path.join(work, f"{split}.raw.input{number}"), (cut(l, column) for l in lines))
            if not test:
                column = spec.dev_label if (spec.dev_label and split != "train") else spec.label
                write_lines(os.path.join(work, f"{split}.label"), (cut(l, column) for l in lines))

    def preprocess(self, dest: str, train: str, valid: str, test: Optional[str], srcdict: Optional[str]):
        command = [sys.executable, "-m", "fairseq_cli.preprocess", "--only-source"]
        command += ["--trainpref", train, "--validpref", valid, "--destdir", dest]
        command += ["--workers", str(self.workers)]
        if test:
            command += ["--testpref", test]
        if srcdict:
            command += ["--srcdict", srcdict]
        self.say("fairseq-preprocess " + " ".join(command[4:]))
        log = dest.rstrip("/") + ".log"  # next to the folder, inside <TASK>-bin.tmp until it is done
        with open(log, "w") as handle:
            status = children.run(command, stdout=subprocess.DEVNULL, stderr=handle)
        if status != 0:
            raise PrepareError(
                f"fairseq-preprocess failed with exit status {status} for {dest}; its log: {log}"
            )

    def encode(self, spec, work, inputs, bpe) -> None:
        """All splits in one encoder run (one fairseq start, not one per split): each
        input column's splits are concatenated, encoded, and cut back by line counts."""
        counts = [count_lines(os.path.join(work, f"{split}.raw.input0")) for split in spec.splits]
        for number in inputs:
            concatenate(
                [os.path.join(work, f"{split}.raw.input{number}") for split in spec.splits],
                os.path.join(work, f"all.raw.input{number}"),
            )
        self.say(f"GPT-2 BPE for {sum(counts):,} examples")
        gpt2_bpe.encode(
            bpe,
            [os.path.join(work, f"all.raw.input{number}") for number in inputs],
            [os.path.join(work, f"all.input{number}") for number in inputs],
            self.workers,
        )
        for number in inputs:
            lines = read_lines(os.path.join(work, f"all.input{number}"))
            for split, count in zip(spec.splits, counts):
                write_lines(os.path.join(work, f"{split}.input{number}"), itertools.islice(lines, count))

    def prepare(self, name: str, bpe: dict) -> str:
        final = os.path.join(self.args.data_bin, f"{name}-bin")
        if os.path.isfile(os.path.join(final, DONE)) and not self.args.force:
            self.say(f"{final} is already prepared (--force rebuilds it)")
            return final
        if os.path.isdir(final) and not os.path.isfile(os.path.join(final, DONE)) and not self.args.force:
            raise PrepareError(f"{final} exists and was not made by this recipe; remove it or add --force")
        spec = TASKS[name]
        raw = self.raw_folder(name)
        work = os.path.join(raw, "processed")
        os.makedirs(work, exist_ok=True)
        self.split_columns(name, raw, work)
        inputs = range(len(spec.inputs))
        self.encode(spec, work, inputs, bpe)

        tmp = final.rstrip("/") + TMP_SUFFIX
        shutil.rmtree(tmp, ignore_errors=True)
        os.makedirs(tmp)
        dev = [s for s in spec.splits if s.startswith("dev")]
        test = [s for s in spec.splits if s.startswith("test")]

        def prefixes(splits, lang):
            return ",".join(os.path.join(work, f"{s}.{lang}") for s in splits)

        for number in inputs:
            lang = f"input{number}"
            self.preprocess(
                os.path.join(tmp, lang),
                os.path.join(work, f"train.{lang}"),
                prefixes(dev, lang),
                prefixes(test, lang),
                bpe["dict.txt"],
            )
        if name in REGRESSION:
            # fairseq's script scales STS-B's 0..5 scores to 0..1
            label = os.path.join(tmp, "label")
            for split, out_split in (("train", "train"), (dev[0], "valid")):
                path = os.path.join(work, f"{split}.label")
                write_lines(os.path.join(label, f"{out_split}.label"), scaled_scores(path))
        else:
            self.preprocess(
                os.path.join(tmp, "label"),
                os.path.join(work, "train.label"),
                prefixes(dev, "label"),
                None,
                None,
            )
        write_json(os.path.join(tmp, DONE), {"task": name, "regression": name in REGRESSION})
        os.makedirs(os.path.dirname(os.path.abspath(final)), exist_ok=True)
        replace_dir(tmp, final)
        return final


def scaled_scores(path):
    for number, value in enumerate(read_lines(path), start=1):
        try:
            yield f"{float(value) / 5.0:g}"
        except ValueError:
            raise PrepareError(f"{path} line {number}: {value!r} is not a similarity score") from None


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="prepare-glue", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("tasks", nargs="+", metavar="TASK", help=f"{', '.join(TASKS)} or ALL")
    parser.add_argument("--glue-dir", default="glue_data", help="raw GLUE (download_glue_data.py layout)")
    parser.add_argument("--archive-dir", help="folder holding <TASK>.zip archives (default: --glue-dir)")
    gpt2_bpe.add_encode_options(parser)
    parser.add_argument("--data-bin", default="data-bin/glue", help="output: <data-bin>/<TASK>-bin")
    parser.add_argument("--force", action="store_true", help="rebuild tasks that are already prepared")
    return parser.parse_args(argv)


@exits_cleanly("prepare-glue", "run the same command again (finished tasks are kept)")
def main(argv=None):
    args = parse_args(argv)
    names = task_names(args.tasks)
    bpe = gpt2_bpe.ensure_files(args.bpe_dir, args.offline)
    preparer = GluePreparer(args)
    for number, name in enumerate(names, start=1):
        print(f"[{number}/{len(names)}] {name}", flush=True)
        final = preparer.prepare(name, bpe)
        print(f"    {name}: {final}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
