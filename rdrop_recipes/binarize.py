"""The last step of every recipe: ``fairseq-preprocess`` into a data-bin dir.

It runs as ``python -m fairseq_cli.preprocess`` with this interpreter, so the
fairseq of the active environment is used even when its console scripts are
not on PATH. The result is built in ``DEST.tmp`` and swapped in whole:
fairseq refuses to overwrite an existing dictionary, and a half-binarized
dir must never look finished.
"""

import os
import shutil
import subprocess
import sys
from typing import Sequence

from .atomic_stages import TMP_SUFFIX, replace_dir
from .errors import PrepareError
from .output_dirs import stamp_data_bin


def preprocess(
    text_dir: str,
    data_bin: str,
    src: str,
    tgt: str,
    workers: int,
    joined_dictionary: bool,
    extra_args: Sequence[str],
    config: dict,
) -> None:
    tmp = data_bin.rstrip("/") + TMP_SUFFIX
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    command = [
        sys.executable,
        "-m",
        "fairseq_cli.preprocess",
        "--source-lang",
        src,
        "--target-lang",
        tgt,
        "--trainpref",
        os.path.join(text_dir, "train"),
        "--validpref",
        os.path.join(text_dir, "valid"),
        "--testpref",
        os.path.join(text_dir, "test"),
        "--destdir",
        tmp,
        "--workers",
        str(max(1, workers)),
    ]
    if joined_dictionary:
        command.append("--joined-dictionary")
    command += list(extra_args)
    print("    " + " ".join(command[2:]), flush=True)
    result = subprocess.run(command)
    if result.returncode != 0:
        raise PrepareError(
            f"fairseq-preprocess failed with exit status {result.returncode} "
            f"(its messages are above); fix that and re-run: finished stages are kept"
        )
    stamp_data_bin(tmp, config)
    os.makedirs(os.path.dirname(os.path.abspath(data_bin)), exist_ok=True)
    replace_dir(tmp, data_bin)
