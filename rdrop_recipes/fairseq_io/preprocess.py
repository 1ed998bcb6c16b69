"""The last step of every recipe: ``fairseq-preprocess`` into a data-bin dir.

It runs as ``python -m fairseq_cli.preprocess`` with this interpreter, so the
fairseq of the active environment is used even when its console scripts are
not on PATH. The result is built in ``DEST.tmp`` and swapped in whole:
fairseq refuses to overwrite an existing dictionary, and a half-binarized
dir must never look finished.
"""

import os
import shutil
import sys
from typing import Dict, Optional, Sequence

from rdrop_recipes.folders.atomic_files import TMP_SUFFIX, replace_dir
from rdrop_recipes.folders.prepared_dirs import stamp_data_bin
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import PrepareError


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
) -> None:
    """``src=None`` binarizes one text per split with ``--only-source``, as
    language modeling reads it (``dict.txt``, ``train.bin`` ...); ``prefixes``
    maps train/valid/test to their file prefix (default ``text_dir/<split>``)."""
    tmp = data_bin.rstrip("/") + TMP_SUFFIX
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    prefixes = prefixes or {split: os.path.join(text_dir, split) for split in ("train", "valid", "test")}
    languages = ["--only-source"] if src is None else ["--source-lang", src, "--target-lang", tgt]
    command = [
        sys.executable,
        "-m",
        "fairseq_cli.preprocess",
        *languages,
        "--trainpref",
        prefixes["train"],
        "--validpref",
        prefixes["valid"],
        "--testpref",
        prefixes["test"],
        "--destdir",
        tmp,
        "--workers",
        str(max(1, workers)),
    ]
    if joined_dictionary:
        command.append("--joined-dictionary")
    command += list(extra_args)
    print("    " + " ".join(command[2:]), flush=True)
    status = children.run(command)
    if status != 0:
        raise PrepareError(
            f"fairseq-preprocess failed with exit status {status} "
            f"(its messages are above); fix that and re-run: finished stages are kept"
        )
    stamp_data_bin(tmp, config)
    os.makedirs(os.path.dirname(os.path.abspath(data_bin)), exist_ok=True)
    replace_dir(tmp, data_bin)
