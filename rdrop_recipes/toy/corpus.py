"""A tiny synthetic translation corpus: random sentences over a small vocabulary, "translated" word
by word through a fixed lexicon with each adjacent pair swapped, so a model must learn a lexicon and
a little reordering. A tiny transformer learns it on a CPU in a few hundred updates."""

import os
import random

from rdrop_recipes.folders.atomic_files import write_lines

SRC_LANG, TGT_LANG = "src", "tgt"


def _sentence_pair(rng: random.Random, lexicon: dict, min_len: int, max_len: int):
    vocabulary = sorted(lexicon)
    words = [rng.choice(vocabulary) for _ in range(rng.randint(min_len, max_len))]
    target = [lexicon[word] for word in words]
    for i in range(0, len(target) - 1, 2):
        target[i], target[i + 1] = target[i + 1], target[i]
    return " ".join(words), " ".join(target)


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
    rng = random.Random(seed)
    lexicon = {f"s{i}": f"t{(7 * i + 3) % vocab}" for i in range(vocab)}
    counts = {}
    for split, count in (("train", train), ("valid", valid), ("test", test)):
        pairs = [_sentence_pair(rng, lexicon, min_len, max_len) for _ in range(count)]
        for side, lang in enumerate((SRC_LANG, TGT_LANG)):
            write_lines(os.path.join(out_dir, f"{split}.{lang}"), (pair[side] for pair in pairs))
        counts[split] = len(pairs)
    return counts
