"""A tiny synthetic translation corpus for the quickstart and the tests.

Source sentences are random strings over a small vocabulary; the target is
a word-by-word "translation" through a fixed lexicon with each adjacent pair
swapped, so a model must learn both lexicon and a little reordering. A tiny
transformer learns it on a CPU in a few hundred updates, which makes BLEU a
meaningful check that training, checkpointing and decoding really work.
"""

import os
import random
from typing import List, Tuple

from rdrop_recipes.folders.atomic_files import write_lines

SRC_LANG, TGT_LANG = "src", "tgt"


def lexicon(size: int) -> List[Tuple[str, str]]:
    return [(f"s{i}", f"t{(7 * i + 3) % size}") for i in range(size)]


def translate(words: List[str], table: dict) -> List[str]:
    out = [table[w] for w in words]
    for i in range(0, len(out) - 1, 2):
        out[i], out[i + 1] = out[i + 1], out[i]
    return out


def make_split(rng: random.Random, count: int, vocab: int, min_len: int, max_len: int):
    table = dict(lexicon(vocab))
    src_words = sorted(table)
    pairs = []
    for _ in range(count):
        sent = [rng.choice(src_words) for _ in range(rng.randint(min_len, max_len))]
        pairs.append((" ".join(sent), " ".join(translate(sent, table))))
    return pairs


def write_corpus(
    out_dir: str,
    train: int = 2000,
    valid: int = 100,
    test: int = 100,
    vocab: int = 24,
    min_len: int = 3,
    max_len: int = 10,
    seed: int = 1,
) -> dict:
    """``out_dir/{train,valid,test}.{src,tgt}``; the number of sentence pairs per split."""
    os.makedirs(out_dir, exist_ok=True)
    rng = random.Random(seed)
    counts = {}
    for split, count in (("train", train), ("valid", valid), ("test", test)):
        pairs = make_split(rng, count, vocab, min_len, max_len)
        for side, lang in ((0, SRC_LANG), (1, TGT_LANG)):
            write_lines(os.path.join(out_dir, f"{split}.{lang}"), (pair[side] for pair in pairs))
        counts[split] = len(pairs)
    return counts
