"""Fail before fairseq does, naming the fix, when ``--data`` is not a
binarized folder (fairseq would end in a FileNotFoundError traceback)."""

import glob
import os

from ..errors import RDropConfigError


def check_data_folders(data: str, prepare_hint: str) -> None:
    for folder in str(data).split(os.pathsep):
        if not os.path.isdir(folder):
            raise RDropConfigError(f"data folder {folder!r} does not exist; {prepare_hint}")
        if not glob.glob(os.path.join(folder, "dict*.txt")):
            raise RDropConfigError(
                f"data folder {folder!r} holds no dict*.txt, so it is not a fairseq-preprocess output "
                f"folder; {prepare_hint}"
            )
