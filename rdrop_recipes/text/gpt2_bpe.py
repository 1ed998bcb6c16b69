"""GPT-2 byte-level BPE as fairseq's RoBERTa and BART examples apply it: fairseq's own
``multiprocessing_bpe_encoder.py`` in a child process (the recipes never import fairseq),
so the ids are the pre-trained models' ids."""

import contextlib
import itertools
import os
import sys
from typing import Sequence

from rdrop_recipes.config.recipe_config import at_least
from rdrop_recipes.downloads.archives import download
from rdrop_recipes.folders.atomic_files import atomic_path, concatenate, read_lines, write_lines
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import PrepareError

BASE_URL = "https://dl.fbaipublicfiles.com/fairseq/gpt2_bpe/"
FILES = ("encoder.json", "vocab.bpe", "dict.txt")
ENCODER_MODULE = "fairseq.examples.roberta.multiprocessing_bpe_encoder"


def add_options(parser, files: str = "encoder.json, vocab.bpe, dict.txt") -> None:
    parser.add_argument("--bpe-dir", default="gpt2_bpe", help=files)
    parser.add_argument("--offline", action="store_true", help="never download; missing files are an error")


def add_encode_options(parser) -> None:
    add_options(parser)
    # a negative count was silently taken as one process
    parser.add_argument("--workers", type=at_least(0), default=0, help="processes (0: all cores)")


def ensure_files(bpe_dir: str, offline: bool = False) -> dict:
    """Paths of the three files in ``bpe_dir``, the missing ones downloaded unless ``offline``."""
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


def encode_splits(
    paths: dict,
    work: str,
    splits: Sequence[str],
    names: Sequence[str],
    counts: Sequence[int],
    workers: int,
    tag="",
) -> None:
    """Every split in one run of the encoder (one fairseq start, not one per split). Each column of
    ``names`` goes from ``work/<split>.raw.<name>`` (``counts`` lines per split) through their
    concatenation ``all.raw.<name>`` and its encoding ``all.<tag><name>`` to ``<split>.<tag><name>``;
    the encodings are written whole or not at all, empty lines kept so inputs and labels stay aligned."""
    inputs = [os.path.join(work, f"all.raw.{name}") for name in names]
    encodings = [os.path.join(work, f"all.{tag}{name}") for name in names]
    for name, joined in zip(names, inputs):
        concatenate([os.path.join(work, f"{split}.raw.{name}") for split in splits], joined)
    with contextlib.ExitStack() as pending:
        temporaries = [pending.enter_context(atomic_path(encoded)) for encoded in encodings]
        command = [sys.executable, "-m", ENCODER_MODULE]
        command += ["--encoder-json", paths["encoder.json"], "--vocab-bpe", paths["vocab.bpe"]]
        command += ["--inputs", *inputs, "--outputs", *temporaries]
        command += ["--workers", str(max(1, workers)), "--keep-empty"]
        status = children.run(command)
        if status != 0:
            raise PrepareError(
                f"GPT-2 BPE encoding of {', '.join(inputs)} failed with exit status {status} (its messages "
                "are above); check encoder.json and vocab.bpe"
            )
    for name, encoded in zip(names, encodings):
        lines = read_lines(encoded)
        for split, count in zip(splits, counts):
            write_lines(os.path.join(work, f"{split}.{tag}{name}"), itertools.islice(lines, count))
