"""GPT-2 byte-level BPE as fairseq's RoBERTa and BART examples apply it.

The three files (``encoder.json``, ``vocab.bpe`` and the model dictionary
``dict.txt``) are downloaded into a folder once, or taken from one the user
has (``--bpe-dir``) on an offline machine. Encoding runs fairseq's own
``examples/roberta/multiprocessing_bpe_encoder.py`` as a child process (the
recipes never import fairseq), so the ids are exactly the pre-trained
models' ids.
"""

import contextlib
import os
import sys
from typing import Sequence

from rdrop_recipes.config.recipe_config import at_least
from rdrop_recipes.downloads.archives import download
from rdrop_recipes.folders.atomic_files import atomic_path
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import PrepareError

BASE_URL = "https://dl.fbaipublicfiles.com/fairseq/gpt2_bpe/"
FILES = ("encoder.json", "vocab.bpe", "dict.txt")
ENCODER_MODULE = "fairseq.examples.roberta.multiprocessing_bpe_encoder"


def add_options(parser, files: str = "encoder.json, vocab.bpe, dict.txt") -> None:
    """``--bpe-dir`` and ``--offline``, the arguments of ``ensure_files``."""
    parser.add_argument("--bpe-dir", default="gpt2_bpe", help=files)
    parser.add_argument("--offline", action="store_true", help="never download; missing files are an error")


def add_encode_options(parser) -> None:
    """``add_options`` and ``--workers``, for the recipes that ``encode``."""
    add_options(parser)
    # a negative count was silently taken as one process
    parser.add_argument("--workers", type=at_least(0), default=0, help="processes (0: all cores)")


def ensure_files(bpe_dir: str, offline: bool = False) -> dict:
    """Paths of the three files in ``bpe_dir``, downloading the missing ones
    unless ``offline``."""
    paths = {name: os.path.join(bpe_dir, name) for name in FILES}
    missing = [name for name, path in paths.items() if not os.path.isfile(path)]
    if missing and offline:
        raise PrepareError(
            f"{bpe_dir} lacks {', '.join(missing)}; copy them there from {BASE_URL} "
            "(or drop --offline to download them)"
        )
    for name in missing:
        download(BASE_URL + name, paths[name], f"copy {name} into {bpe_dir} by hand and pass --bpe-dir")
    return paths


def encode(paths: dict, inputs: Sequence[str], outputs: Sequence[str], workers: int) -> None:
    """Encode the input text files, which must have the same number of lines
    (fairseq's encoder reads them side by side), into the outputs in one child
    process; empty lines are kept so inputs and labels stay aligned. The
    outputs are written whole or not at all."""
    with contextlib.ExitStack() as pending:
        temporaries = [pending.enter_context(atomic_path(dest)) for dest in outputs]
        command = [
            sys.executable,
            "-m",
            ENCODER_MODULE,
            "--encoder-json",
            paths["encoder.json"],
            "--vocab-bpe",
            paths["vocab.bpe"],
            "--inputs",
            *inputs,
            "--outputs",
            *temporaries,
            "--workers",
            str(max(1, workers)),
            "--keep-empty",
        ]
        status = children.run(command)
        if status != 0:
            raise PrepareError(
                f"GPT-2 BPE encoding of {', '.join(inputs)} failed with exit status {status} (its messages "
                "are above); check encoder.json and vocab.bpe"
            )
