"""R-Drop for language modeling: ``--task rdrop_language_modeling`` with
``reg_label_smoothed_cross_entropy`` (label smoothing 0 = plain cross-entropy),
for a plain softmax and an adaptive softmax, in process and end to end."""

import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from fairseq.criterions.cross_entropy import CrossEntropyCriterion

import rdrop_fairseq
from rdrop_fairseq.consistency import consistency_divergence
from rdrop_fairseq.criterions.rdrop_core import repeat_batch
from rdrop_fairseq.errors import RDropConfigError

WORDS = [f"w{i}" for i in range(30)]
TINY_LM = [
    "--arch", "transformer_lm", "--decoder-layers", "1", "--decoder-embed-dim", "16",
    "--decoder-ffn-embed-dim", "32", "--decoder-attention-heads", "2", "--tokens-per-sample", "16",
]  # fmt: skip
ADAPTIVE = ["--adaptive-softmax-cutoff", "10,20", "--adaptive-softmax-dropout", "0.2"]


@pytest.fixture
def lm_dir(tmp_path):
    folder = tmp_path / "lm"
    folder.mkdir()
    (folder / "dict.txt").write_text("".join(f"{w} {100 - i}\n" for i, w in enumerate(WORDS)))
    return str(folder)


def build_lm(data_dir, *flags, task="rdrop_language_modeling"):
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    argv = [data_dir, "--user-dir", rdrop_fairseq.USER_DIR, "--cpu", "--task", task, *TINY_LM]
    argv += ["--criterion", "reg_label_smoothed_cross_entropy", "--reg-alpha", "1.0", *flags]
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(options.get_training_parser(), argv))
    task = tasks.setup_task(cfg.task)
    return task, task.build_model(cfg.model), task.build_criterion(cfg.criterion)


def lm_sample(task, seed=0):
    """Three padded sequences, as a MonolingualDataset batch is laid out."""
    g = torch.Generator().manual_seed(seed)
    d = task.dictionary
    lengths = [7, 5, 3]
    tokens = torch.full((3, 8), d.pad())
    target = torch.full((3, 8), d.pad())
    for row, n in enumerate(lengths):
        words = torch.randint(d.nspecial, len(d), (n + 1,), generator=g)
        tokens[row, :n], target[row, :n] = words[:-1], words[1:]
    ntokens = int(target.ne(d.pad()).sum())
    return {
        "id": torch.arange(3),
        "nsentences": 3,
        "ntokens": ntokens,
        "net_input": {"src_tokens": tokens, "src_lengths": torch.tensor(lengths)},
        "target": target,
    }


def test_without_dropout_each_copy_is_fairseq_cross_entropy(lm_dir):
    task, model, crit = build_lm(lm_dir, "--dropout", "0")
    sample = lm_sample(task)
    model.train()
    loss, sample_size, log = crit(model, sample)
    reference = CrossEntropyCriterion(task, sentence_avg=False)
    ce, ce_size, _ = reference(model, sample)
    assert sample_size == ce_size == sample["ntokens"]
    assert torch.allclose(loss, 2 * ce, rtol=1e-6)
    assert log["kl_loss"].abs().item() < 1e-6


@pytest.mark.parametrize("adaptive", [False, True], ids=["softmax", "adaptive-softmax"])
def test_loss_kl_and_gradient_against_an_independent_computation(lm_dir, adaptive):
    flags = ["--dropout", "0.3"] + (ADAPTIVE if adaptive else [])
    task, model, crit = build_lm(lm_dir, *flags)
    sample = lm_sample(task)
    pad = task.dictionary.pad()
    model.train()
    torch.manual_seed(5)
    loss, _, log = crit(model, sample)
    model.zero_grad()
    loss.backward()
    got = {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}

    # the same dropout draws, by hand: one forward over [x; x], the full
    # log-probabilities (assembled from head and tails for the adaptive softmax)
    torch.manual_seed(5)
    out = model(**repeat_batch(sample["net_input"], 2))[0]
    if adaptive:
        asm = model.decoder.adaptive_softmax
        x = asm.dropout_module(out.reshape(-1, out.size(-1)))
        head = F.log_softmax(asm.head(x), -1)
        parts = [head[:, : asm.cutoff[0]]]
        for c, tail in enumerate(asm.tail):
            parts.append(head[:, asm.cutoff[0] + c, None] + F.log_softmax(tail(x), -1))
        lprobs = torch.cat(parts, -1)
    else:
        lprobs = F.log_softmax(out.reshape(-1, out.size(-1)), -1)
    target = sample["target"].reshape(-1)
    keep = target.ne(pad)
    nll = F.nll_loss(lprobs, target.repeat(2), ignore_index=pad, reduction="sum")
    kl = (consistency_divergence(lprobs, 2, "bidirectional") * keep).sum()
    want = nll + 1.0 * kl
    model.zero_grad()
    want.backward()

    assert math.isclose(loss.item(), want.item(), rel_tol=1e-5)
    assert math.isclose(log["kl_loss"].item(), kl.item(), rel_tol=1e-4)
    assert log["kl_loss"].item() > 0
    for name, p in model.named_parameters():
        if p.grad is not None:
            assert torch.allclose(got[name], p.grad, rtol=1e-4, atol=1e-6), name


@pytest.mark.parametrize("adaptive", [False, True], ids=["softmax", "adaptive-softmax"])
def test_validation_equals_fairseq_cross_entropy(lm_dir, adaptive):
    task, model, crit = build_lm(lm_dir, "--dropout", "0.3", *(ADAPTIVE if adaptive else []))
    sample = lm_sample(task)
    model.eval()
    with torch.no_grad():
        loss, size, _ = crit(model, sample)
        ce, ce_size, _ = CrossEntropyCriterion(task, sentence_avg=False)(model, sample)
    assert size == ce_size and torch.allclose(loss, ce, rtol=1e-6)


@pytest.mark.parametrize("adaptive", [False, True], ids=["softmax", "adaptive-softmax"])
def test_every_third_update_carries_the_kl(lm_dir, adaptive):
    task, model, crit = build_lm(
        lm_dir, "--dropout", "0.3", "--reg-every", "3", *(ADAPTIVE if adaptive else [])
    )
    from fairseq.optim.sgd import SGD

    opt = SGD(type("C", (), {"lr": [0.01], "momentum": 0.0, "weight_decay": 0.0})(), list(model.parameters()))
    sample = lm_sample(task)
    model.train()
    logs = [task.train_step(sample, model, crit, opt, u)[2] for u in range(9)]
    assert [("kl_loss" in log) for log in logs] == [True, False, False] * 3
    assert all(log["nll_ntokens"] == sample["ntokens"] for log in logs[1:3])


def test_plain_language_modeling_task_is_a_clear_error(lm_dir):
    with pytest.raises(RDropConfigError, match="rdrop_language_modeling"):
        build_lm(lm_dir, task="language_modeling")


# ---- end to end: fairseq-preprocess -> fairseq-train -> fairseq-eval-lm ----

BIN = os.path.dirname(sys.executable)


def write_corpus(folder):
    """Real English text that ships with Python (pydoc's topic help)."""
    from pydoc_data.topics import topics

    lines = [" ".join(line.split()) for text in topics.values() for line in text.splitlines()]
    lines = [line for line in lines if len(line.split()) >= 4][:3000]
    os.makedirs(folder, exist_ok=True)
    splits = {"train": lines[:2600], "valid": lines[2600:2800], "test": lines[2800:]}
    for split, part in splits.items():
        with open(os.path.join(folder, f"{split}.txt"), "w") as f:
            f.write("\n".join(part) + "\n")
    return {split: len(part) for split, part in splits.items()}


def run(cmd, cwd):
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    return proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def lm_bin(tmp_path_factory):
    root = tmp_path_factory.mktemp("lm-e2e")
    counts = write_corpus(str(root / "raw"))
    run(
        [f"{BIN}/fairseq-preprocess", "--only-source", "--trainpref", "raw/train.txt", "--validpref",
         "raw/valid.txt", "--testpref", "raw/test.txt", "--destdir", "bin", "--workers", "1",
         "--thresholdsrc", "2"],
        str(root),
    )  # fmt: skip
    return root, counts


@pytest.mark.slow
@pytest.mark.parametrize("break_mode", ["none", "eos"])
def test_adaptive_softmax_lm_trains_and_evaluates(lm_bin, break_mode):
    root, _ = lm_bin
    save = f"ckpt-{break_mode}"
    log = run(
        [f"{BIN}/fairseq-train", "bin", "--user-dir", rdrop_fairseq.USER_DIR, "--task", "rdrop_language_modeling",
         "--criterion", "reg_label_smoothed_cross_entropy", "--reg-alpha", "1.0", "--arch", "transformer_lm",
         "--decoder-layers", "2", "--decoder-embed-dim", "32", "--decoder-ffn-embed-dim", "64",
         "--decoder-attention-heads", "2", "--adaptive-softmax-cutoff", "200,600", "--dropout", "0.2",
         "--tokens-per-sample", "64", "--sample-break-mode", break_mode, "--max-tokens", "1024",
         "--optimizer", "adam", "--lr", "3e-3", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "10",
         "--max-update", "40", "--log-format", "simple", "--log-interval", "10", "--save-dir", save,
         "--no-epoch-checkpoints", "--cpu", "--seed", "1"],
        str(root),
    )  # fmt: skip
    train_lines = [line for line in log.splitlines() if "| train_inner |" in line or "| train |" in line]
    assert train_lines and all("kl_loss" in line for line in train_lines)
    first, last = (
        float(line.split("nll_loss=")[-1].split(",")[0]) for line in (train_lines[0], train_lines[-2])
    )
    assert last < first  # it learns
    out = run(
        [f"{BIN}/fairseq-eval-lm", "bin", "--user-dir", rdrop_fairseq.USER_DIR, "--task", "rdrop_language_modeling",
         "--path", f"{save}/checkpoint_last.pt", "--gen-subset", "test", "--max-tokens", "1024",
         "--tokens-per-sample", "64", "--cpu"],
        str(root),
    )  # fmt: skip
    ppl = float(out.split("Perplexity: ")[-1].split()[0])
    assert math.isfinite(ppl) and 1 < ppl < 3000
