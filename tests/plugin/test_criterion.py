"""reg_label_smoothed_cross_entropy: the loss, its gradient and its logged
metrics, on a hand-built example and on a real (tiny) transformer."""

import math

import pytest
import torch
import torch.nn.functional as F
from conftest import PAIRS, TINY_MODEL, build, make_sample, mean_pair_kl
from fairseq.criterions.label_smoothed_cross_entropy import LabelSmoothedCrossEntropyCriterion
from fairseq.logging import metrics

from rdrop_fairseq.criterions.reg_label_smoothed_cross_entropy import (
    RegLabelSmoothedCrossEntropyConfig,
    RegLabelSmoothedCrossEntropyCriterion,
)
from rdrop_fairseq.errors import RDropConfigError

EPS = 0.1


class ScriptedModel(torch.nn.Module):
    """Returns fixed logits for the copies it is given: copy c of the batch gets
    ``table[c]``, so each 'sub-model' is known to the test."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.nn.Parameter(table)  # [copies, B, T, V]
        self.decoder = torch.nn.Module()
        self.decoder.adaptive_softmax = None

    def forward(self, src_tokens, src_lengths, prev_output_tokens):
        copies = src_tokens.size(0) // self.table.size(1)
        return self.table[:copies].reshape(-1, *self.table.shape[2:]), {"attn": None}

    def get_targets(self, sample, net_output):
        return sample["target"]

    def get_normalized_probs(self, net_output, log_probs):
        return F.log_softmax(net_output[0].float(), -1)


def criterion_for(task, **options):
    cfg = RegLabelSmoothedCrossEntropyConfig(sentence_avg=False, label_smoothing=EPS, **options)
    return RegLabelSmoothedCrossEntropyCriterion(task, cfg)


def by_hand(table, target, pad, alpha, direction="bidirectional", task_copies=None):
    """The paper's Eq. 4 written out: explicit softmax and F.kl_div; the NLL
    terms of the first ``task_copies`` copies only when given (SimCut)."""
    copies, vocab = table.size(0), table.size(-1)
    t = target.reshape(-1)
    keep = t.ne(pad)
    total_ls = total_nll = 0.0
    probs, lprobs = [], []
    for c in range(copies):
        z = table[c].reshape(-1, vocab).double()
        p = torch.exp(z) / torch.exp(z).sum(-1, keepdim=True)
        lp = torch.log(p)
        probs.append(p)
        lprobs.append(lp)
        nll = -lp[torch.arange(len(t)), t]
        uniform = -lp.mean(-1) * vocab
        eps_i = EPS / (vocab - 1)
        if task_copies is None or c < task_copies:
            total_ls = total_ls + (((1 - EPS - eps_i) * nll + eps_i * uniform) * keep).sum()
            total_nll = total_nll + (nll * keep).sum()

    def kl(i, j):
        return (F.kl_div(lprobs[j], probs[i], reduction="none").sum(-1) * keep).sum()

    div = mean_pair_kl(kl, copies, direction)
    return total_ls + alpha * div, total_nll, div


@pytest.fixture
def task_and_sample(dict_dir):
    _, task, _, _ = build(
        dict_dir,
        "--task",
        "rdrop_translation",
        *TINY_MODEL,
        "--criterion",
        "reg_label_smoothed_cross_entropy",
    )
    return task, make_sample(task, PAIRS)


@pytest.mark.parametrize(
    "copies,direction,impl,task_loss",
    [
        (2, "bidirectional", "fused", "all-copies"),
        (2, "bidirectional", "reference", "all-copies"),
        (3, "bidirectional", "fused", "all-copies"),
        (3, "bidirectional", "reference", "all-copies"),
        (2, "unidirectional", "fused", "all-copies"),
        (2, "unidirectional", "reference", "all-copies"),
        (2, "bidirectional", "fused", "first-copy"),
        (3, "bidirectional", "fused", "first-copy"),
        (3, "bidirectional", "reference", "first-copy"),
        (2, "unidirectional", "fused", "first-copy"),
        (2, "unidirectional", "reference", "first-copy"),
    ],
)
def test_loss_nll_kl_and_gradient_match_hand_computation(task_and_sample, copies, direction, impl, task_loss):
    task, sample = task_and_sample
    task_copies = 1 if task_loss == "first-copy" else copies
    batch, length = sample["target"].shape
    vocab = len(task.target_dictionary)
    torch.manual_seed(1)
    table = torch.randn(copies, batch, length, vocab) * 2
    model = ScriptedModel(table.clone()).train()
    crit = criterion_for(
        task,
        reg_alpha=3.0,
        reg_passes=copies,
        reg_kl_direction=direction,
        reg_loss_impl=impl,
        reg_task_loss=task_loss,
    )
    loss, sample_size, log = crit(model, sample)
    loss.backward()

    ref_table = table.clone().double().requires_grad_()
    want_loss, want_nll, want_div = by_hand(
        ref_table, sample["target"], task.target_dictionary.pad(), 3.0, direction, task_copies
    )
    want_loss.backward()

    assert sample_size == sample["ntokens"] == int(sample["target"].ne(1).sum())
    assert math.isclose(loss.item(), want_loss.item(), rel_tol=1e-5)
    assert math.isclose(log["nll_loss"].item(), want_nll.item(), rel_tol=1e-5)
    assert math.isclose(log["kl_loss"].item(), want_div.item(), rel_tol=1e-4)
    assert log["nll_ntokens"] == task_copies * sample["ntokens"] and log["kl_ntokens"] == sample["ntokens"]
    assert torch.allclose(model.table.grad.double(), ref_table.grad, rtol=1e-4, atol=1e-6)
    pad_positions = sample["target"].eq(1)
    assert torch.count_nonzero(model.table.grad[:, pad_positions]) == 0


def real_setup(dict_dir, dropout, *extra):
    cfg, task, model, crit = build(
        dict_dir,
        "--task",
        "rdrop_translation",
        *TINY_MODEL,
        "--dropout",
        str(dropout),
        "--criterion",
        "reg_label_smoothed_cross_entropy",
        "--label-smoothing",
        str(EPS),
        *extra,
    )
    baseline = LabelSmoothedCrossEntropyCriterion(task, False, EPS)
    return task, model, crit, baseline, make_sample(task, PAIRS)


def test_without_dropout_kl_is_zero_and_loss_is_twice_the_baseline(dict_dir):
    task, model, crit, baseline, sample = real_setup(dict_dir, 0.0)
    model.train()
    loss, _, log = crit(model, sample)
    base_loss, _, base_log = baseline(model, sample)
    assert log["kl_loss"].item() == 0.0
    assert torch.allclose(loss, 2 * base_loss, rtol=1e-5)
    assert torch.allclose(log["nll_loss"], 2 * base_log["nll_loss"], rtol=1e-5)


def test_alpha_zero_is_the_two_copies_label_smoothed_nll(dict_dir):
    task, model, crit, baseline, sample = real_setup(dict_dir, 0.3, "--reg-alpha", "0")
    model.train()
    torch.manual_seed(3)
    loss, _, log = crit(model, sample)
    assert log["kl_loss"].item() > 0  # the copies do differ...
    torch.manual_seed(3)
    logits, _ = model(**{k: torch.cat([v, v]) for k, v in sample["net_input"].items()})
    lp = F.log_softmax(logits.float(), -1).view(-1, logits.size(-1))
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

    want, _ = label_smoothed_nll_loss(lp, sample["target"].repeat(2, 1).view(-1), EPS, ignore_index=1)
    assert torch.allclose(loss, want, rtol=1e-5)  # ...but alpha = 0 leaves them out of the loss


def test_dropout_makes_kl_positive_and_alpha_weights_it(dict_dir):
    task, model, crit, _, sample = real_setup(dict_dir, 0.3)
    model.train()
    torch.manual_seed(5)
    loss, _, log = crit(model, sample)
    crit_no_kl = criterion_for(task, reg_alpha=0.0)
    torch.manual_seed(5)
    loss0, _, log0 = crit_no_kl(model, sample)
    assert log["kl_loss"].item() > 0
    assert torch.allclose(loss, loss0 + 5.0 * log["kl_loss"], rtol=1e-5)


def test_validation_equals_the_baseline_criterion(dict_dir):
    task, model, crit, baseline, sample = real_setup(dict_dir, 0.3)
    loss, size, log = task.valid_step(sample, model, crit)
    base_loss, base_size, base_log = task.valid_step(sample, model, baseline)
    assert not model.training
    assert loss.item() == base_loss.item() and size == base_size
    assert log["nll_loss"].item() == base_log["nll_loss"].item()
    assert "kl_loss" not in log


def test_fused_and_reference_paths_agree_on_a_transformer(dict_dir):
    task, model, crit, _, sample = real_setup(dict_dir, 0.0)
    model.train()
    ref = criterion_for(task, reg_loss_impl="reference")
    losses, grads = [], []
    for c in (crit, ref):
        model.zero_grad()
        loss, _, _ = c(model, sample)
        loss.backward()
        losses.append(loss.item())
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None]))
    assert math.isclose(*losses, rel_tol=1e-5)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-6)


def test_every_k_updates_applies_rdrop_one_update_in_k(dict_dir):
    task, model, crit, baseline, sample = real_setup(dict_dir, 0.3, "--reg-every", "3")
    model.train()
    seen = []
    for update in range(6):
        crit.set_update_num(update)
        loss, _, log = crit(model, sample)
        seen.append(log.get("kl_ntokens", 0) > 0)
        if not seen[-1]:
            assert log["nll_ntokens"] == sample["ntokens"]  # one copy, nll still per token
    assert seen == [True, False, False, True, False, False]


def test_task_train_step_tells_the_criterion_the_update(dict_dir):
    task, model, crit, _, sample = real_setup(dict_dir, 0.3, "--reg-every", "2")
    from fairseq.optim.sgd import SGD

    opt = SGD(type("C", (), {"lr": [0.1], "momentum": 0.0, "weight_decay": 0.0})(), list(model.parameters()))
    kinds = [("kl_loss" in task.train_step(sample, model, crit, opt, u)[2]) for u in range(4)]
    assert kinds == [True, False, True, False]


def test_two_dropout_rates_equal_default_when_both_zero(dict_dir):
    task, model, crit, _, sample = real_setup(dict_dir, 0.3, "--reg-dropouts", "0,0")
    model.train()
    loss, _, log = crit(model, sample)
    model.eval()
    ref_loss, _, _ = LabelSmoothedCrossEntropyCriterion(task, False, EPS)(model, sample)
    assert log["kl_loss"].item() == 0.0
    assert torch.allclose(loss, 2 * ref_loss, rtol=1e-5)
    from rdrop_fairseq.criterions.dropout_rates import main_dropout_modules

    assert {m.p for m in main_dropout_modules(model)} == {0.3}  # restored after the passes


def test_two_dropout_rates_really_differ(dict_dir):
    task, model, crit, _, sample = real_setup(dict_dir, 0.3, "--reg-dropouts", "0,0.5")
    model.train()
    _, _, log = crit(model, sample)
    assert log["kl_loss"].item() > 0


def test_reduce_metrics_units(dict_dir):
    task, model, crit, _, sample = real_setup(dict_dir, 0.3)
    logs = [
        {
            "loss": torch.tensor(40.0),
            "nll_loss": torch.tensor(30.0),
            "kl_loss": torch.tensor(2.0),
            "ntokens": 10,
            "nll_ntokens": 20,
            "kl_ntokens": 10,
            "nsentences": 2,
            "sample_size": 10,
        },
        {
            "loss": torch.tensor(8.0),
            "nll_loss": torch.tensor(6.0),
            "ntokens": 5,
            "nll_ntokens": 5,
            "nsentences": 1,
            "sample_size": 5,
        },
    ]
    with metrics.aggregate() as agg:
        RegLabelSmoothedCrossEntropyCriterion.reduce_metrics(logs)
    out = agg.get_smoothed_values()
    assert math.isclose(out["loss"], 48 / 15 / math.log(2), abs_tol=1e-3)
    assert math.isclose(out["nll_loss"], 36 / 25 / math.log(2), abs_tol=1e-3)
    assert math.isclose(out["kl_loss"], 2 / 10 / math.log(2), abs_tol=1e-4)
    with metrics.aggregate() as agg:
        RegLabelSmoothedCrossEntropyCriterion.reduce_metrics(logs[1:])
    assert "kl_loss" not in agg.get_smoothed_values()


@pytest.mark.parametrize(
    "flags,message",
    [
        (["--reg-alpha", "-1"], "--reg-alpha must be a finite number >= 0"),
        (["--reg-passes", "1"], "--reg-passes must be >= 2"),
        (["--reg-every", "0"], "--reg-every must be >= 1"),
        (["--reg-dropouts", "0.1,1.0"], "--reg-dropouts takes two rates in [0, 1)"),
        (["--reg-dropouts", "0.1"], "--reg-dropouts takes two rates"),
        (
            ["--reg-kl-direction", "unidirectional", "--reg-passes", "3"],
            "unidirectional is defined for two passes",
        ),
        (["--reg-dropouts", "0.1,0.3", "--reg-passes", "3"], "needs --reg-passes 2"),
    ],
)
def test_bad_configuration_is_a_clear_error(dict_dir, flags, message):
    with pytest.raises(RDropConfigError) as err:
        build(
            dict_dir,
            "--task",
            "rdrop_translation",
            *TINY_MODEL,
            "--criterion",
            "reg_label_smoothed_cross_entropy",
            *flags,
        )
    assert message in str(err.value)


def test_criterion_without_its_task_is_a_clear_error(dict_dir):
    with pytest.raises(RDropConfigError, match="needs --task rdrop_translation"):
        build(
            dict_dir, "--task", "translation", *TINY_MODEL, "--criterion", "reg_label_smoothed_cross_entropy"
        )


def test_alpha_is_a_float_with_the_paper_default(dict_dir):
    cfg, _, _, crit = build(
        dict_dir,
        "--task",
        "rdrop_translation",
        *TINY_MODEL,
        "--criterion",
        "reg_label_smoothed_cross_entropy",
    )
    assert crit.alpha == 5.0 and crit.copies == 2 and crit.every == 1 and crit.direction == "bidirectional"
    _, _, _, crit = build(
        dict_dir,
        "--task",
        "rdrop_translation",
        *TINY_MODEL,
        "--criterion",
        "reg_label_smoothed_cross_entropy",
        "--reg-alpha",
        "0.5",
    )
    assert crit.alpha == 0.5


def test_missing_or_raw_data_folder_is_a_clear_error(tmp_path):
    with pytest.raises(RDropConfigError, match="does not exist; binarize your corpus"):
        build(
            str(tmp_path / "nowhere"),
            "--task",
            "rdrop_translation",
            *TINY_MODEL,
            "--criterion",
            "reg_label_smoothed_cross_entropy",
        )
    with pytest.raises(RDropConfigError, match="holds no dict"):
        build(
            str(tmp_path),
            "--task",
            "rdrop_translation",
            *TINY_MODEL,
            "--criterion",
            "reg_label_smoothed_cross_entropy",
        )
