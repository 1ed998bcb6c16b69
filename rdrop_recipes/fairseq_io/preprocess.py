"""The last step of every recipe: ``fairseq-preprocess`` into a data-bin dir, run as ``python -m
fairseq_cli.preprocess`` so the active environment's fairseq is used even when its console scripts
are not on PATH."""

import os
import subprocess
import sys
from typing import Dict, Optional, Sequence

from rdrop_recipes.folders.atomic_files import checked_line_count
from rdrop_recipes.folders.prepared_dirs import building_data_bin
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import PrepareError


def run_preprocess(
    destdir: str,
    prefixes: Dict[str, str],
    workers: int,
    src: Optional[str] = None,
    tgt: Optional[str] = None,
    joined_dictionary: bool = False,
    extra_args: Sequence[str] = (),
    log: Optional[str] = None,
) -> None:
    """One fairseq-preprocess into ``destdir`` (GLUE runs one per folder inside ``building_data_bin``).
    ``prefixes``: each split's file prefix; ``src=None``: ``--only-source``; ``log``: a file for its
    messages instead of the console."""
    check_inputs(prefixes, src, tgt)
    languages = ["--only-source"] if src is None else ["--source-lang", src, "--target-lang", tgt]
    command = [sys.executable, "-m", "fairseq_cli.preprocess", *languages]
    for split in ("train", "valid", "test"):
        if split in prefixes:
            command += [f"--{split}pref", prefixes[split]]
    command += ["--destdir", destdir, "--workers", str(max(1, workers))]
    if joined_dictionary:
        command.append("--joined-dictionary")
    command += list(extra_args)
    print("    " + " ".join(command[2:]), flush=True)
    if log is None:
        status = children.run(command)
        where = " (its messages are above); fix that and re-run: finished stages are kept"
    else:
        with open(log, "w") as handle:
            status = children.run(command, stdout=subprocess.DEVNULL, stderr=handle)
        where = f" for {destdir}; its log: {log}"
    if status != 0:
        raise PrepareError(f"fairseq-preprocess failed with exit status {status}{where}")


def check_inputs(prefixes: Dict[str, str], src: Optional[str], tgt: Optional[str]) -> None:
    """Every file fairseq-preprocess will read is UTF-8 and holds a line: fairseq binarizes an empty
    file into a split nothing can load ("cannot mmap an empty file"), after the dir looks finished."""
    for split, joined in prefixes.items():
        for prefix in joined.split(","):  # fairseq's valid, valid1, ... from one --validpref
            for path in [prefix] if src is None else [f"{prefix}.{src}", f"{prefix}.{tgt}"]:
                if not os.path.isfile(path):
                    raise PrepareError(f"{path} is missing (the {split} split); re-run with --force")
                if checked_line_count(path) == 0:
                    raise PrepareError(
                        f"{path} is empty, so fairseq could not load the {split} split it "
                        "becomes; give that split data and re-run with --force"
                    )


def preprocess(
    text_dir: str,
    data_bin: str,
    src: Optional[str],
    tgt: Optional[str],
    workers: int,
    joined_dictionary: bool,
    extra_args: Sequence[str],
    config: dict,
    prefixes: Optional[Dict[str, str]] = None,
    log: Optional[str] = None,
) -> None:
    """``run_preprocess`` into ``data_bin`` via ``building_data_bin``; ``prefixes`` defaults to
    ``text_dir/<split>`` for train, valid and test."""
    prefixes = prefixes or {split: os.path.join(text_dir, split) for split in ("train", "valid", "test")}
    with building_data_bin(data_bin, config) as tmp:
        run_preprocess(tmp, prefixes, workers, src, tgt, joined_dictionary, extra_args, log)
