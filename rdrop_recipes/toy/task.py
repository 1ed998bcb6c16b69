"""The toy translation task, shared by the quickstart and the end-to-end tests: a tiny synthetic
corpus (random sentences over a small vocabulary, "translated" word by word through a fixed lexicon
with each adjacent pair swapped, so a model must learn a lexicon and a little reordering) and
fairseq's flags for a tiny transformer that learns it on a CPU in a few hundred updates."""

import os
import random

from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.folders.atomic_files import write_lines

SRC_LANG, TGT_LANG = "src", "tgt"
TINY_TRANSFORMER = (
    "--arch transformer --encoder-layers 2 --decoder-layers 2 --encoder-embed-dim 64 "
    "--decoder-embed-dim 64 --encoder-ffn-embed-dim 128 --decoder-ffn-embed-dim 128 "
    "--encoder-attention-heads 4 --decoder-attention-heads 4 --share-all-embeddings"
).split()


def write_corpus(out_dir, train=2000, valid=100, test=100, vocab=24, seed=1):
    """``out_dir/{train,valid,test}.{src,tgt}``, sentences of 3 to 10 words; the number of
    sentence pairs per split."""
    rng = random.Random(seed)
    lexicon = {f"s{i}": f"t{(7 * i + 3) % vocab}" for i in range(vocab)}
    vocabulary = sorted(lexicon)
    counts = {}
    for split, count in (("train", train), ("valid", valid), ("test", test)):
        pairs = []
        for _ in range(count):
            words = [rng.choice(vocabulary) for _ in range(rng.randint(3, 10))]
            target = [lexicon[word] for word in words]
            for i in range(0, len(target) - 1, 2):
                target[i], target[i + 1] = target[i + 1], target[i]
            pairs.append((" ".join(words), " ".join(target)))
        for side, lang in enumerate((SRC_LANG, TGT_LANG)):
            write_lines(os.path.join(out_dir, f"{split}.{lang}"), (pair[side] for pair in pairs))
        counts[split] = len(pairs)
    return counts


def toy_training(updates, log_interval, bleu_every=None):
    """fairseq-train's flags after the data folder: the plugin's task and criterion, a tiny
    transformer, a schedule that learns the task in a few hundred CPU updates, and greedy validation
    BLEU every ``bleu_every`` epochs, which picks checkpoint_best.pt."""
    flags = ["--user-dir", PLUGIN_DIR, "--task", "rdrop_translation"]
    flags += ["--criterion", "reg_label_smoothed_cross_entropy", "--label-smoothing", "0.1"]
    flags += [*TINY_TRANSFORMER, "--dropout", "0.1", "--optimizer", "adam", "--adam-betas", "(0.9,0.98)"]
    flags += ["--lr", "3e-3", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "40"]
    flags += ["--max-tokens", "2000", "--max-update", str(updates), "--no-epoch-checkpoints"]
    flags += ["--log-format", "simple", "--log-interval", str(log_interval), "--cpu", "--seed", "1"]
    if bleu_every:
        flags += ["--eval-bleu", "--eval-bleu-args", '{"beam": 1}', "--validate-interval", str(bleu_every)]
        flags += ["--best-checkpoint-metric", "bleu", "--maximize-best-checkpoint-metric"]
    return flags


def toy_generate(checkpoint):
    """fairseq-generate's flags after the data folder: beam 5 over the whole test set."""
    flags = ["--user-dir", PLUGIN_DIR, "--path", checkpoint, "--beam", "5", "--batch-size", "128"]
    return flags + ["--required-batch-size-multiple", "1", "--cpu"]
