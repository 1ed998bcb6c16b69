"""Tiny stand-ins in the real layouts for what cannot be downloaded here: a
GPT-2 byte-level BPE (encoder.json, vocab.bpe, dict.txt), GLUE task folders
as download_glue_data.py writes them, CNN/DM text as fairseq's BART example
expects it, and "pre-trained" RoBERTa/BART checkpoints (random tiny models
saved as fairseq checkpoints, so --restore-file reads a real file)."""

import json
import os
import random

MERGES = [("t", "h"), ("th", "e"), ("Ġ", "the"), ("i", "n"), ("a", "n"), ("e", "r"), ("o", "n")]
WORDS = "the cat sat on a mat and then ran under tree river stone quickly slowly red blue".split()


def lines(path):
    """A text file's lines: for checking what a recipe wrote."""
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


def byte_symbols():
    """GPT-2's reversible byte -> printable character table: printable bytes keep
    their character, the others get characters from 256 upwards, in byte order."""
    keep = [b for b in range(256) if 33 <= b <= 126 or 161 <= b <= 172 or 174 <= b <= 255]
    table, extra = {}, 0
    for b in range(256):
        if b in keep:
            table[b] = chr(b)
        else:
            table[b] = chr(256 + extra)
            extra += 1
    return table


def write_gpt2_bpe(folder):
    """encoder.json (symbol -> id), vocab.bpe (merges) and the model's dict.txt
    (ids as fairseq's GPT-2 dictionary lists them); returns the folder."""
    os.makedirs(folder, exist_ok=True)
    symbols = list(byte_symbols().values()) + ["".join(pair) for pair in MERGES]
    encoder = {symbol: index for index, symbol in enumerate(symbols)}
    with open(os.path.join(folder, "encoder.json"), "w", encoding="utf-8") as f:
        json.dump(encoder, f)
    with open(os.path.join(folder, "vocab.bpe"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n")
        f.writelines(f"{a} {b}\n" for a, b in MERGES)
    with open(os.path.join(folder, "dict.txt"), "w", encoding="utf-8") as f:
        f.writelines(f"{index} {1000 - index}\n" for index in range(len(symbols)))
    return folder


def sentence(rng, lo=3, hi=8):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(lo, hi)))


def write_rte(glue_dir, n_train=48, n_dev=16, seed=0):
    """RTE: index, sentence1, sentence2, label (entailment / not_entailment);
    the label is learnable: entailment iff the second sentence repeats the first word."""
    rng = random.Random(seed)
    folder = os.path.join(glue_dir, "RTE")
    os.makedirs(folder, exist_ok=True)
    for split, n in (("train", n_train), ("dev", n_dev), ("test", 8)):
        with open(os.path.join(folder, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write("index\tsentence1\tsentence2" + ("" if split == "test" else "\tlabel") + "\n")
            for i in range(n):
                first = sentence(rng)
                entail = rng.random() < 0.5
                second = (first.split()[0] + " " if entail else "stone ") + sentence(rng, 1, 4)
                label = "entailment" if entail else "not_entailment"
                f.write(f"{i}\t{first}\t{second}" + ("" if split == "test" else f"\t{label}") + "\n")
    return folder


def write_stsb(glue_dir, n_train=48, n_dev=16, seed=1):
    """STS-B: ten columns, sentence1 and sentence2 in 8 and 9, the 0-5 score in 10 (test: 9 columns)."""
    rng = random.Random(seed)
    folder = os.path.join(glue_dir, "STS-B")
    os.makedirs(folder, exist_ok=True)
    head = "index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2"
    for split, n in (("train", n_train), ("dev", n_dev), ("test", 8)):
        with open(os.path.join(folder, f"{split}.tsv"), "w", encoding="utf-8") as f:
            f.write(head + ("" if split == "test" else "\tscore") + "\n")
            for i in range(n):
                a, b = sentence(rng), sentence(rng)
                score = round(5.0 * len(set(a.split()) & set(b.split())) / len(set(a.split())), 3)
                row = f"{i}\tmain-news\tfile\t2012\t{i}\tnone\tnone\t{a}\t{b}"
                f.write(row + ("" if split == "test" else f"\t{score}") + "\n")
    return folder


def write_cnndm(folder, n_train=32, n_val=8, n_test=8, seed=2):
    """fairseq's BART layout: one raw (untokenized, cased) article per line in
    <split>.source, its summary in <split>.target."""
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        with (
            open(os.path.join(folder, f"{split}.source"), "w", encoding="utf-8") as src,
            open(os.path.join(folder, f"{split}.target"), "w", encoding="utf-8") as tgt,
        ):
            for _ in range(n):
                article = sentence(rng, 12, 20)
                src.write(article.capitalize() + ".\n")
                tgt.write(" ".join(article.split()[:5]) + ".\n")
    return folder


TINY_ROBERTA = [
    "--arch", "roberta_base", "--encoder-layers", "2", "--encoder-embed-dim", "64",
    "--encoder-ffn-embed-dim", "128", "--encoder-attention-heads", "2", "--max-positions", "128",
]  # fmt: skip
TINY_BART = [
    "--arch", "bart_base", "--encoder-layers", "1", "--decoder-layers", "1",
    "--encoder-embed-dim", "32", "--decoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64",
    "--decoder-ffn-embed-dim", "64", "--encoder-attention-heads", "2", "--decoder-attention-heads", "2",
    "--max-source-positions", "128", "--max-target-positions", "128",
]  # fmt: skip


def prepared_glue(root, task, write):
    """The GLUE ``task`` that ``write`` fabricates, through prepare-glue (offline,
    one worker): (BPE folder, GLUE folder, the task's data-bin folder, the argv)."""
    from rdrop_recipes import prepare_glue

    bpe = write_gpt2_bpe(os.path.join(root, "bpe"))
    glue = os.path.join(root, "glue")
    write(glue)
    data_bin = os.path.join(root, "data-bin")
    argv = [task, "--glue-dir", glue, "--bpe-dir", bpe, "--offline", "--data-bin", data_bin, "--workers", "1"]
    assert prepare_glue.main(argv) == 0
    return bpe, glue, os.path.join(data_bin, f"{task}-bin"), argv


def finetuned_glue(root, task, bpe, task_dir, seed):
    """A dozen CPU updates of finetune-glue from a random TINY_ROBERTA:
    (its model.pt, the run's results folder, its scores.json)."""
    from rdrop_recipes import finetune_glue

    model = save_pretrained(os.path.join(root, "tiny-roberta", "model.pt"), "masked_lm", bpe, TINY_ROBERTA)
    results = os.path.join(root, "results")
    argv = [
        task, "--model", model, "--data", task_dir, "--seeds", str(seed), "--results-dir", results, "--cpu",
        "--set", "max_update=12", "--set", "lr=1e-3", "--set", "warmup_updates=2", "--set", "log_interval=4",
        "--", *TINY_ROBERTA,
    ]  # fmt: skip
    assert finetune_glue.main(argv) == 0
    (folder,) = os.listdir(results)
    with open(os.path.join(results, folder, "scores.json")) as f:
        return model, os.path.join(results, folder), json.load(f)


def save_pretrained(path, task_name, data, flags, seed=0):
    """A randomly initialised model built as fairseq-train would build it
    (``--task task_name`` on ``data``), saved as a fairseq checkpoint: the
    stand-in for roberta.*/bart.* model.pt."""
    import torch
    from fairseq import checkpoint_utils, options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    torch.manual_seed(seed)
    parser = options.get_training_parser()
    args = options.parse_args_and_arch(parser, [data, "--task", task_name, "--cpu", *flags])
    cfg = convert_namespace_to_omegaconf(args)
    task = tasks.setup_task(cfg.task)
    model = task.build_model(cfg.model)
    state = {
        "cfg": cfg,
        "model": model.state_dict(),
        "optimizer_history": [{"criterion_name": "MaskedLmLoss", "optimizer_name": "Adam",
                               "lr_scheduler_state": {}, "num_updates": 0}],
        "extra_state": {},
        "last_optimizer_state": None,
    }  # fmt: skip
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    checkpoint_utils.torch_persistent_save(state, path)
    return path
