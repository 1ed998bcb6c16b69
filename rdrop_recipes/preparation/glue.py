"""GLUE for fairseq's sentence prediction: the stages of ``python -m rdrop_recipes.prepare_glue``,
one pipeline per task (text in ``<glue_dir>/<TASK>/processed``, as fairseq's script names it)."""

import functools
import math
import os
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

from rdrop_recipes.downloads.archives import download, extract_zip_members
from rdrop_recipes.fairseq_io.preprocess import run_preprocess
from rdrop_recipes.folders import prepared_dirs
from rdrop_recipes.folders.atomic_files import count_lines, read_lines, write_lines
from rdrop_recipes.folders.prepared_dirs import Pipeline
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
    names = [task for name in requested for task in (TASKS if name == "ALL" else [name])]
    unknown = [name for name in names if name not in TASKS]
    if unknown:
        raise PrepareError(f"unknown GLUE task {unknown[0]!r}; choose from {', '.join(TASKS)} or ALL")
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


def task_stamp(name: str) -> dict:
    """What a task's folders are stamped with (prepared_dirs); finetune-glue reads ``task.name``."""
    return {"task": {"name": name, "regression": name in REGRESSION}}


def fetch(name: str, folder: str, archive_dir: str, offline: bool) -> None:
    """``folder``'s .tsv files, unless there: from ``<archive_dir>/<name>.zip``, downloaded if missing."""
    spec = TASKS[name]
    tsv = {split: os.path.join(folder, f"{split}.tsv") for split in spec.splits}
    if all(os.path.isfile(path) for path in tsv.values()):
        return
    if spec.archive is None:
        raise PrepareError(
            f"{folder} lacks {', '.join(os.path.basename(p) for p in tsv.values() if not os.path.isfile(p))}; "
            f"{name} has no single archive: run download_glue_data.py (fairseq's README.glue.md) and "
            "pass --glue-dir"
        )
    archive = os.path.join(archive_dir, f"{name}.zip")
    fix = f"put the GLUE {name}.zip into --archive-dir, or the unpacked {name}/ folder into --glue-dir"
    if not os.path.isfile(archive):
        if offline:
            raise PrepareError(f"{folder} lacks {name}'s .tsv files and {archive} is missing; {fix}")
        download(GLUE_URL.format(archive=spec.archive), archive, fix)
    extract_zip_members(archive, {f"{name}/{split}.tsv": path for split, path in tsv.items()}, fix)


def encode(spec: GlueTask, work: str, bpe: dict, workers: int) -> None:
    counts = [count_lines(os.path.join(work, f"{split}.raw.input0")) for split in spec.splits]
    print(f"    GPT-2 BPE for {sum(counts):,} examples", flush=True)
    names = [f"input{number}" for number in range(len(spec.inputs))]
    gpt2_bpe.encode_splits(bpe, work, spec.splits, names, counts, workers)


def binarize(name: str, work: str, final: str, bpe: dict, workers: int) -> None:
    """``input0/`` (``input1/``) with the model's dictionary and ``label/``, built in
    ``<TASK>-bin.tmp``."""
    spec = TASKS[name]
    dev = [s for s in spec.splits if s.startswith("dev")]
    groups = {"train": ["train"], "valid": dev, "test": [s for s in spec.splits if s.startswith("test")]}

    def prefixes(lang, subsets=("train", "valid", "test")):
        return {key: ",".join(os.path.join(work, f"{s}.{lang}") for s in groups[key]) for key in subsets}

    with prepared_dirs.building_data_bin(final, task_stamp(name)) as tmp:
        for number in range(len(spec.inputs)):
            lang = f"input{number}"
            run_preprocess(
                os.path.join(tmp, lang),
                prefixes(lang),
                workers,
                extra_args=["--srcdict", bpe["dict.txt"]],
                log=os.path.join(tmp, f"{lang}.log"),
            )
        if name in REGRESSION:
            # fairseq's script scales STS-B's 0..5 scores to 0..1
            for split, out_split in (("train", "train"), (dev[0], "valid")):
                scores = scaled_scores(os.path.join(work, f"{split}.label"))
                write_lines(os.path.join(tmp, "label", f"{out_split}.label"), scores)
        else:
            run_preprocess(
                os.path.join(tmp, "label"),
                prefixes("label", ("train", "valid")),
                workers,
                log=os.path.join(tmp, "label.log"),
            )


def prepare_tasks(tasks, glue_dir, archive_dir, bpe_dir, offline, workers, data_bin, force) -> None:
    """prepare-glue's arguments: each task (``ALL``: all) through its stages into
    ``<data_bin>/<TASK>-bin``; the intermediate text in ``<glue_dir>/<TASK>/processed``."""
    names = task_names(tasks)
    bpe = gpt2_bpe.ensure_files(bpe_dir, offline)
    workers = workers or default_workers()
    for number, name in enumerate(names, start=1):
        print(f"[{number}/{len(names)}] {name}", flush=True)
        spec, raw, final = TASKS[name], os.path.join(glue_dir, name), os.path.join(data_bin, f"{name}-bin")
        work = os.path.join(raw, "processed")
        # --glue-dir names the folder the intermediate text goes to (<glue_dir>/<TASK>/processed)
        pipeline = Pipeline(prepared_dirs.claim_dirs(work, final, task_stamp(name), force, "--glue-dir"))
        inputs = range(len(spec.inputs))
        tsv = [os.path.join(raw, f"{split}.tsv") for split in spec.splits]
        fetched = functools.partial(fetch, name, raw, archive_dir or glue_dir, offline)
        pipeline.add("fetch", f"{name} .tsv files", tsv, fetched)
        outputs = [os.path.join(work, f"{s}.raw.input{n}") for s in spec.splits for n in inputs]
        outputs += [os.path.join(work, f"{s}.label") for s in spec.splits if not s.startswith("test")]
        pipeline.add(
            "columns", "check the rows, cut the columns", outputs, functools.partial(columns, name, raw, work)
        )
        encoded = [os.path.join(work, f"{s}.input{n}") for s in spec.splits for n in inputs]
        pipeline.add("encode", "GPT-2 BPE", encoded, functools.partial(encode, spec, work, bpe, workers))
        label = "train.label" if name in REGRESSION else "dict.txt"
        binarized = [os.path.join(final, f"input{n}", "dict.txt") for n in inputs]
        binarized.append(os.path.join(final, "label", label))
        pipeline.add(
            "binarize",
            "fairseq-preprocess with the model's dictionary",
            binarized,
            functools.partial(binarize, name, work, final, bpe, workers),
        )
        if pipeline.finished():
            print(f"    {final} is already prepared (--force rebuilds it)", flush=True)
        else:
            pipeline.run()
        print(f"    {name}: {final}", flush=True)
