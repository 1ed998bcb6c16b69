"""One BPE code for both languages with subword-nmt's API: ``learn_bpe.py -s N`` on
src+tgt, ``apply_bpe.py -c code`` (``@@`` separator) on worker processes."""

import os
from dataclasses import dataclass
from typing import Sequence

from rdrop_recipes.folders.atomic_files import atomic_open, concatenate, read_lines
from rdrop_recipes.text.parallel_lines import map_file


def learn(
    train_files: Sequence[str],
    code_path: str,
    merges: int,
    min_frequency: int,
    workers: int,
    joined_path: str,
) -> None:
    """On ``train_files`` concatenated in the shell recipes' ``cat`` order (ties break the
    same way) into ``joined_path``: subword-nmt's parallel word count needs a seekable file."""
    from subword_nmt.learn_bpe import learn_bpe

    concatenate(train_files, joined_path)
    with open(joined_path, encoding="utf-8") as infile, atomic_open(code_path) as outfile:
        learn_bpe(infile, outfile, merges, min_frequency=min_frequency, num_workers=max(1, workers))


@dataclass(frozen=True)
class BpeApplier:
    code_path: str

    def build(self):
        from subword_nmt.apply_bpe import BPE

        with open(self.code_path, encoding="utf-8") as codes:
            return BPE(codes).process_line


def apply(code_path: str, src_path: str, dest_path: str, workers: int, progress_every: int) -> None:
    label = f"bpe {os.path.basename(dest_path)}"
    map_file(BpeApplier(code_path), read_lines(src_path), dest_path, workers, label, progress_every)
