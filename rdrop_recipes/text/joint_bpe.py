"""One BPE code for both languages, learned and applied with subword-nmt's API.

Learning is what ``learn_bpe.py -s N < src+tgt`` does (min frequency 2,
no vocabulary threshold); applying is ``apply_bpe.py -c code`` with the
default ``@@`` separator, spread over worker processes.
"""

import os
from dataclasses import dataclass
from typing import Sequence

from rdrop_recipes.folders.atomic_files import atomic_open, concatenate, read_lines, write_lines
from rdrop_recipes.text.parallel_lines import Progress, map_lines


def learn(
    train_files: Sequence[str],
    code_path: str,
    merges: int,
    min_frequency: int,
    workers: int,
    joined_path: str,
) -> None:
    """Learn ``merges`` merges on ``train_files`` concatenated in the given order
    (the order the shell recipes ``cat`` them, so ties break the same way).

    ``joined_path`` holds the concatenation: subword-nmt's parallel word count
    needs a seekable file, not a stream.
    """
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
            bpe = BPE(codes)
        return bpe.process_line


def apply(code_path: str, src_path: str, dest_path: str, workers: int, progress_every: int) -> int:
    progress = Progress(f"bpe {os.path.basename(dest_path)}", progress_every)
    count = write_lines(dest_path, map_lines(BpeApplier(code_path), read_lines(src_path), workers, progress))
    progress.close()
    return count
