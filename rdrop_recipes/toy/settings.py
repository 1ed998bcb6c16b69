"""fairseq's flags for the toy task, shared by the quickstart and the end-to-end tests."""

from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR

TINY_TRANSFORMER = (
    "--arch transformer --encoder-layers 2 --decoder-layers 2 --encoder-embed-dim 64 "
    "--decoder-embed-dim 64 --encoder-ffn-embed-dim 128 --decoder-ffn-embed-dim 128 "
    "--encoder-attention-heads 4 --decoder-attention-heads 4 --share-all-embeddings"
).split()


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
