"""GLUE for fairseq's sentence prediction: the stages of ``python -m rdrop_recipes.prepare_glue``,
one pipeline per task (text in ``<glue_dir>/<TASK>/processed``, as fairseq's script names it)."""

import math
import os
import sys
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from rdrop_recipes.downloads.archives import download, extract_zip_members
from rdrop_recipes.fairseq_io.preprocess import run_preprocess
from rdrop_recipes.folders import prepared_dirs
from rdrop_recipes.folders.atomic_files import count_lines, read_lines, write_lines
from rdrop_recipes.folders.stages import Pipeline
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.text import gpt2_bpe
from rdrop_recipes.text.parallel_lines import default_workers

PROG = "prepare-glue"
GLUE_URL = "https://dl.fbaipublicfiles.com/glue/data/{archive}.zip"


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
    labels: Tuple[str, ...] = ("0", "1")  # the task's classes; () for STS-B's 0-5 scores


TASKS = {
    "QQP": GlueTask((4, 5), (2, 3), 6, fields=6, archive="QQP-clean"),
    "MNLI": GlueTask(
        (9, 10),
        (9, 10),
        12,
        dev_label=16,
        splits=("train", "dev_matched", "dev_mismatched", "test_matched", "test_mismatched"),
        archive="MNLI",
        labels=("contradiction", "entailment", "neutral"),
    ),
    "QNLI": GlueTask((2, 3), (2, 3), 4, archive="QNLIv2", labels=("entailment", "not_entailment")),
    "MRPC": GlueTask((4, 5), (4, 5), 1),
    "RTE": GlueTask((2, 3), (2, 3), 4, archive="RTE", labels=("entailment", "not_entailment")),
    "STS-B": GlueTask((8, 9), (8, 9), 10, archive="STS-B", labels=()),
    "SST-2": GlueTask((1,), (2,), 2, archive="SST-2"),
    "CoLA": GlueTask((4,), (2,), 2, header=False, archive="CoLA"),
}
REGRESSION = ("STS-B",)
MAX_SCORE = 5.0  # STS-B's similarity scores run from 0 to 5


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


def rows(spec: GlueTask, path: str, split: str):
    """(line number, line) of a split's examples: no header, nor QQP's train/dev lines that
    fairseq's script drops (``awk NF==6``)."""
    test = split.startswith("test")
    for number, line in enumerate(read_lines(path), start=1):
        if number == 1 and (spec.header or test):
            continue
        if spec.fields and not test and len(line.split("\t")) != spec.fields:
            continue
        yield number, line


def label_column(spec: GlueTask, split: str) -> int:
    return spec.dev_label if (spec.dev_label and split != "train") else spec.label


def check_rows(name: str, raw: str) -> None:
    """Every split holds examples, train/dev rows their columns and a valid label, train
    every class; else the file and line. fairseq would binarize them, and fine-tuning
    crash ("cannot mmap an empty file") or learn a class that is not there."""
    spec = TASKS[name]
    fix = "correct or delete that row and re-run"
    for split in spec.splits:
        path = os.path.join(raw, f"{split}.tsv")
        column = label_column(spec, split)
        needed = max(*spec.inputs, column)
        seen, count = set(), 0
        for number, line in rows(spec, path, split):
            count += 1
            if split.startswith("test"):
                continue  # unlabelled, and never trained on: as lenient as fairseq's script
            where = f"{path} line {number}"
            fields = len(line.split("\t"))
            if fields < needed:
                raise PrepareError(
                    f"{where} has {fields} tab-separated field(s), but {name}'s {split} rows have "
                    f"at least {needed} (the label in column {column}); {fix}"
                )
            label = cut(line, column).strip()
            if spec.labels and label not in spec.labels:
                raise PrepareError(
                    f"{where}: label {label!r} (column {column}) is not one of {name}'s labels "
                    f"{', '.join(spec.labels)}; {fix}"
                )
            if not spec.labels:
                check_score(label, where, column, fix)
            seen.add(label)
        if count == 0:
            header = " (only a header)" if os.path.getsize(path) else ""
            raise PrepareError(
                f"{path} holds no {name} examples{header}; fairseq cannot train or validate on an "
                f"empty split: put the {split} rows back (or delete {raw} and fetch {name} again)"
            )
        missing = [label for label in spec.labels if label not in seen]
        if split == "train" and missing:
            raise PrepareError(
                f"{path} has no example labelled {', '.join(map(repr, missing))}, so the label "
                f"dictionary would lack that class of {name}; use the whole train split"
            )


def check_score(text: str, where: str, column: int, fix: str) -> None:
    try:
        score = float(text)
    except ValueError:
        score = math.nan
    if not 0.0 <= score <= MAX_SCORE:  # also NaN
        raise PrepareError(
            f"{where}: {text!r} (column {column}) is not a similarity score from 0 to {MAX_SCORE:g}; {fix}"
        )


def split_columns(name: str, raw: str, work: str) -> None:
    """``<split>.raw.input{0,1}`` and ``<split>.label``, as the script's cut/awk."""
    spec = TASKS[name]
    for split in spec.splits:
        lines = [line for _, line in rows(spec, os.path.join(raw, f"{split}.tsv"), split)]
        test = split.startswith("test")
        columns = spec.test_inputs if test else spec.inputs
        for number, column in enumerate(columns):
            write_lines(os.path.join(work, f"{split}.raw.input{number}"), (cut(l, column) for l in lines))
        if not test:
            column = label_column(spec, split)
            write_lines(os.path.join(work, f"{split}.label"), (cut(l, column) for l in lines))


def columns(name: str, raw: str, work: str) -> None:
    check_rows(name, raw)
    split_columns(name, raw, work)


def scaled_scores(path):
    for number, value in enumerate(read_lines(path), start=1):
        try:
            yield f"{float(value) / MAX_SCORE:g}"
        except ValueError:
            raise PrepareError(f"{path} line {number}: {value!r} is not a similarity score") from None


class GlueRecipe:
    def __init__(self, glue_dir, data_bin, archive_dir=None, offline=False, workers=0, stream=None):
        self.glue_dir = glue_dir
        self.data_bin = data_bin
        self.archive_dir = archive_dir
        self.offline = offline
        self.workers = workers or default_workers()
        self.out = stream or sys.stdout

    def say(self, text: str) -> None:
        print(f"    {text}", file=self.out, flush=True)

    def task_config(self, name: str) -> dict:
        """The task folders' stamp: only ``task`` changes the data."""
        return {
            "paths": {"glue_dir": self.glue_dir, "data_bin": self.data_bin},
            "download": {"archive_dir": self.archive_dir or "", "offline": self.offline},
            "run": {"workers": self.workers},
            "task": {"name": name, "regression": name in REGRESSION},
        }

    def raw_folder(self, name: str) -> str:
        folder = os.path.join(self.glue_dir, name)
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
        archive = os.path.join(self.archive_dir or self.glue_dir, f"{name}.zip")
        fix = f"put the GLUE {name}.zip into --archive-dir, or the unpacked {name}/ folder into --glue-dir"
        if not os.path.isfile(archive):
            if self.offline:
                raise PrepareError(f"{folder} lacks {name}'s .tsv files and {archive} is missing; {fix}")
            download(GLUE_URL.format(archive=spec.archive), archive, fix, self.out)
        extract_zip_members(
            archive,
            {f"{name}/{split}.tsv": os.path.join(folder, f"{split}.tsv") for split in spec.splits},
            fix,
        )
        return folder

    def encode(self, spec, work, inputs, bpe) -> None:
        counts = [count_lines(os.path.join(work, f"{split}.raw.input0")) for split in spec.splits]
        self.say(f"GPT-2 BPE for {sum(counts):,} examples")
        columns = [
            (
                [os.path.join(work, f"{split}.raw.input{number}") for split in spec.splits],
                os.path.join(work, f"all.raw.input{number}"),
                os.path.join(work, f"all.input{number}"),
                [os.path.join(work, f"{split}.input{number}") for split in spec.splits],
            )
            for number in inputs
        ]
        gpt2_bpe.encode_splits(bpe, columns, counts, self.workers)

    def binarize(self, name: str, work: str, final: str, bpe: dict) -> None:
        """``input0/`` (``input1/``) with the model's dictionary and ``label/``, built in
        ``<TASK>-bin.tmp``."""
        spec = TASKS[name]
        dev = [s for s in spec.splits if s.startswith("dev")]
        groups = {"train": ["train"], "valid": dev, "test": [s for s in spec.splits if s.startswith("test")]}

        def prefixes(lang, subsets=("train", "valid", "test")):
            return {key: ",".join(os.path.join(work, f"{s}.{lang}") for s in groups[key]) for key in subsets}

        with prepared_dirs.building_data_bin(final, self.task_config(name)) as tmp:
            for number in range(len(spec.inputs)):
                lang = f"input{number}"
                run_preprocess(
                    os.path.join(tmp, lang),
                    prefixes(lang),
                    self.workers,
                    extra_args=["--srcdict", bpe["dict.txt"]],
                    log=os.path.join(tmp, f"{lang}.log"),
                )
            if name in REGRESSION:
                # fairseq's script scales STS-B's 0..5 scores to 0..1
                label = os.path.join(tmp, "label")
                for split, out_split in (("train", "train"), (dev[0], "valid")):
                    path = os.path.join(work, f"{split}.label")
                    write_lines(os.path.join(label, f"{out_split}.label"), scaled_scores(path))
            else:
                run_preprocess(
                    os.path.join(tmp, "label"),
                    prefixes("label", ("train", "valid")),
                    self.workers,
                    log=os.path.join(tmp, "label.log"),
                )

    def pipeline(self, name: str, bpe: dict, state_dir: str, work: str, final: str) -> Pipeline:
        spec = TASKS[name]
        raw = os.path.join(self.glue_dir, name)
        inputs = range(len(spec.inputs))
        outputs = [os.path.join(work, f"{s}.raw.input{n}") for s in spec.splits for n in inputs]
        outputs += [os.path.join(work, f"{s}.label") for s in spec.splits if not s.startswith("test")]
        label = "train.label" if name in REGRESSION else "dict.txt"
        binarized = [os.path.join(final, f"input{n}", "dict.txt") for n in inputs]
        p = Pipeline(state_dir, stream=self.out)
        p.add(
            "fetch",
            f"{name} .tsv files",
            [os.path.join(raw, f"{split}.tsv") for split in spec.splits],
            lambda: self.raw_folder(name),
        )
        p.add("columns", "check the rows, cut the columns", outputs, lambda: columns(name, raw, work))
        p.add(
            "encode",
            "GPT-2 BPE",
            [os.path.join(work, f"{s}.input{n}") for s in spec.splits for n in inputs],
            lambda: self.encode(spec, work, inputs, bpe),
        )
        p.add(
            "binarize",
            "fairseq-preprocess with the model's dictionary",
            binarized + [os.path.join(final, "label", label)],
            lambda: self.binarize(name, work, final, bpe),
        )
        return p

    def prepare(self, name: str, bpe: dict, force: bool = False) -> str:
        final = os.path.join(self.data_bin, f"{name}-bin")
        work = os.path.join(self.glue_dir, name, "processed")
        # --glue-dir names the folder the intermediate text goes to (<glue_dir>/<TASK>/processed)
        state_dir = prepared_dirs.claim_dirs(work, final, self.task_config(name), force, "--glue-dir")
        pipeline = self.pipeline(name, bpe, state_dir, work, final)
        if pipeline.finished():
            self.say(f"{final} is already prepared (--force rebuilds it)")
        else:
            pipeline.run()
        return final


def prepare_tasks(requested, bpe_dir, offline, force, **recipe_options) -> None:
    """Every requested task (``ALL``: all); ``recipe_options`` are ``GlueRecipe``'s."""
    names = task_names(requested)
    bpe = gpt2_bpe.ensure_files(bpe_dir, offline)
    recipe = GlueRecipe(offline=offline, **recipe_options)
    for number, name in enumerate(names, start=1):
        print(f"[{number}/{len(names)}] {name}", flush=True)
        final = recipe.prepare(name, bpe, force)
        print(f"    {name}: {final}", flush=True)
