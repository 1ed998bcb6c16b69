"""reg_sentence_prediction and rdrop_sentence_prediction: classification and
regression losses and gradients against hand computations, validation against
fairseq's sentence_prediction, --reg-every, logged metrics, and the one-line
errors for data, flags and models that do not fit together."""

import itertools
import os

import pytest
import torch
import torch.nn.functional as F
from conftest import WORDS, mean_pair_kl
from fairseq.criterions.sentence_prediction import SentencePredictionCriterion
from fairseq.logging import metrics

from rdrop_fairseq.criterions.rdrop_core import repeat_batch
from rdrop_fairseq.criterions.reg_sentence_prediction import RegSentencePredictionCriterion
from rdrop_fairseq.errors import RDropConfigError

TINY_ROBERTA = [
    "--arch",
    "roberta_base",
    "--encoder-layers",
    "2",
    "--encoder-embed-dim",
    "64",
    "--encoder-ffn-embed-dim",
    "128",
    "--encoder-attention-heads",
    "2",
    "--max-positions",
    "32",
]
NO_DROPOUT = ["--dropout", "0", "--attention-dropout", "0", "--pooler-dropout", "0"]
HEAD = "sentence_classification_head"


def write_glue_dicts(folder, classes=("0", "1", "2"), regression=False):
    """A sentence-prediction folder as fairseq-preprocess --only-source leaves it
    (dictionaries, and for regression the float label file)."""
    os.makedirs(os.path.join(folder, "input0"), exist_ok=True)
    os.makedirs(os.path.join(folder, "label"), exist_ok=True)
    with open(os.path.join(folder, "input0", "dict.txt"), "w") as f:
        f.writelines(f"{w} {100 - i}\n" for i, w in enumerate(WORDS))
    if regression:
        with open(os.path.join(folder, "label", "train.label"), "w") as f:
            f.write("3.5\n1.0\n")
    else:
        with open(os.path.join(folder, "label", "dict.txt"), "w") as f:
            f.writelines(f"{c} 10\n" for c in classes)
            # fairseq-preprocess pads every dictionary to a multiple of 8 symbols
            f.write("madeupword0000 0\n")
    return folder


def build(data, *flags, criterion="reg_sentence_prediction", task="rdrop_sentence_prediction"):
    from fairseq import options, tasks
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    import rdrop_fairseq

    argv = [data, "--user-dir", rdrop_fairseq.USER_DIR, "--cpu", "--task", task, "--criterion", criterion]
    args = options.parse_args_and_arch(options.get_training_parser(), argv + list(flags))
    cfg = convert_namespace_to_omegaconf(args)
    task_obj = tasks.setup_task(cfg.task)
    model = task_obj.build_model(cfg.model)
    return cfg, task_obj, model, task_obj.build_criterion(cfg.criterion)


def make_sample(task, sentences, labels, regression=False):
    d = task.source_dictionary
    rows = [[d.bos()] + [d.index(w) for w in s.split()] + [d.eos()] for s in sentences]
    width = max(map(len, rows))
    tokens = torch.full((len(rows), width), d.pad(), dtype=torch.long)
    for i, row in enumerate(rows):
        tokens[i, : len(row)] = torch.tensor(row)
    target = torch.tensor(labels, dtype=torch.float if regression else torch.long)
    return {
        "id": torch.arange(len(rows)),
        "net_input": {"src_tokens": tokens, "src_lengths": torch.tensor([len(r) for r in rows])},
        "nsentences": len(rows),
        "ntokens": sum(map(len, rows)),
        "target": target.view(len(rows), -1) if regression else target,
    }


SENTENCES = ["w4 w5 w6 w7", "w11 w12", "w5 w5 w6 w9 w10", "w3"]


class ScriptedHead(torch.nn.Module):
    """Copy c of the batch gets ``table[c]``: each 'sub-model' is known to the test."""

    def __init__(self, table):
        super().__init__()
        self.table = torch.nn.Parameter(table)  # [copies, B, C]
        self.classification_heads = {HEAD: None}

    def forward(self, src_tokens, src_lengths, features_only, classification_head_name):
        assert features_only and classification_head_name == HEAD
        copies = src_tokens.size(0) // self.table.size(1)
        return self.table[:copies].reshape(-1, self.table.size(-1)), None

    def get_targets(self, sample, net_output):
        return sample["target"]


def classification_by_hand(table, target, alpha, direction, task_copies=None):
    """Eq. 4 written out: cross_entropy per copy (of the first ``task_copies``
    only when given), F.kl_div between copies."""
    copies = table.size(0)
    ce = sum(
        F.cross_entropy(table[c].double(), target, reduction="sum") for c in range(task_copies or copies)
    )
    lp = [F.log_softmax(table[c].double(), -1) for c in range(copies)]

    def kl(i, j):  # KL(Pi || Pj) summed over the batch
        return F.kl_div(lp[j], lp[i], log_target=True, reduction="sum")

    div = mean_pair_kl(kl, copies, direction)
    return ce + alpha * div, ce, div


@pytest.fixture
def cls_dir(tmp_path):
    return write_glue_dicts(str(tmp_path / "cls"))


@pytest.fixture
def reg_dir(tmp_path):
    return write_glue_dicts(str(tmp_path / "reg"), regression=True)


@pytest.mark.parametrize(
    "copies,direction,task_loss",
    [
        (2, "bidirectional", "all-copies"),
        (2, "unidirectional", "all-copies"),
        (3, "bidirectional", "all-copies"),
        (2, "unidirectional", "first-copy"),
        (3, "bidirectional", "first-copy"),
    ],
)
def test_classification_loss_and_gradient_match_hand_computation(cls_dir, copies, direction, task_loss):
    task_copies = 1 if task_loss == "first-copy" else copies
    _, task, _, criterion = build(
        cls_dir,
        *TINY_ROBERTA,
        "--num-classes",
        "3",
        "--reg-alpha",
        "0.7",
        "--reg-passes",
        str(copies),
        "--reg-kl-direction",
        direction,
        "--reg-task-loss",
        task_loss,
    )
    labels = [0, 2, 1, 1]
    sample = make_sample(task, SENTENCES, labels)
    torch.manual_seed(0)
    model = ScriptedHead(torch.randn(copies, 4, 3) * 2).train()
    loss, sample_size, log = criterion(model, sample)
    (grad,) = torch.autograd.grad(loss, model.table)

    table = model.table.detach().clone().requires_grad_(True)
    expected, ce, div = classification_by_hand(table, torch.tensor(labels), 0.7, direction, task_copies)
    (expected_grad,) = torch.autograd.grad(expected, table)

    assert sample_size == 4 and log["sample_size"] == 4 and log["nsentences"] == 4
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert log["kl_loss"].item() == pytest.approx(div.item(), rel=1e-5)
    assert log["task_loss"].item() == pytest.approx(ce.item(), rel=1e-5)
    assert log["task_count"] == 4 * task_copies and log["kl_nsentences"] == 4
    assert div.item() > 0.1
    torch.testing.assert_close(grad.double(), expected_grad.double(), rtol=1e-4, atol=1e-6)
    first_copy_correct = (model.table[0].argmax(-1) == torch.tensor(labels)).sum().item()
    assert log["ncorrect"].item() == first_copy_correct


@pytest.mark.parametrize("copies,task_loss", [(2, "all-copies"), (3, "all-copies"), (3, "first-copy")])
def test_regression_loss_is_mse_to_gold_plus_alpha_mse_between_copies(reg_dir, copies, task_loss):
    task_copies = 1 if task_loss == "first-copy" else copies
    _, task, _, criterion = build(
        reg_dir,
        *TINY_ROBERTA,
        "--num-classes",
        "1",
        "--regression-target",
        "--reg-alpha",
        "0.5",
        "--reg-passes",
        str(copies),
        "--reg-task-loss",
        task_loss,
    )
    gold = [3.5, 1.0, 2.25, 4.0]
    sample = make_sample(task, SENTENCES, gold, regression=True)
    torch.manual_seed(1)
    model = ScriptedHead(torch.randn(copies, 4, 1) + 2).train()
    loss, sample_size, log = criterion(model, sample)
    (grad,) = torch.autograd.grad(loss, model.table)

    table = model.table.detach().double().clone().requires_grad_(True)
    y = torch.tensor(gold, dtype=torch.double)
    preds = [table[c, :, 0] for c in range(copies)]
    mse_gold = sum(((y - p) ** 2).sum() for p in preds[:task_copies])
    # the paper's MSE(y1, y2) for two copies, the mean over ordered pairs for more
    between = sum(((preds[i] - preds[j]) ** 2).sum() for i, j in itertools.permutations(range(copies), 2))
    between = between / (copies * (copies - 1))
    expected = mse_gold + 0.5 * between
    (expected_grad,) = torch.autograd.grad(expected, table)

    if copies == 2:
        assert between.item() == pytest.approx(((preds[0] - preds[1]) ** 2).sum().item())
    assert sample_size == 4
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5)
    assert log["copies_mse"].item() == pytest.approx(between.item(), rel=1e-5) and "kl_loss" not in log
    assert "ncorrect" not in log
    torch.testing.assert_close(grad.double(), expected_grad.double(), rtol=1e-4, atol=1e-6)


def test_tiny_roberta_rdrop_step_is_one_pass_over_the_copies(cls_dir):
    """On a real model with dropout: the same random stream through [x; x] by
    hand gives the criterion's loss, and its KL is positive."""
    _, task, model, criterion = build(
        cls_dir, *TINY_ROBERTA, "--num-classes", "3", "--dropout", "0.3", "--reg-alpha", "1.0"
    )
    sample = make_sample(task, SENTENCES, [0, 2, 1, 1])
    model.train()
    torch.manual_seed(5)
    loss, _, log = criterion(model, sample)
    torch.manual_seed(5)
    logits, _ = model(
        **repeat_batch(sample["net_input"], 2), features_only=True, classification_head_name=HEAD
    )
    expected, _, div = classification_by_hand(
        logits.detach().view(2, 4, 3), torch.tensor([0, 2, 1, 1]), 1.0, "bidirectional"
    )
    assert div.item() > 0
    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)


def test_without_dropout_loss_and_gradient_are_twice_the_baseline(cls_dir):
    _, task, model, criterion = build(
        cls_dir,
        *TINY_ROBERTA,
        "--num-classes",
        "3",
        *NO_DROPOUT,
    )
    baseline = SentencePredictionCriterion(criterion_cfg_like(criterion), task)
    sample = make_sample(task, SENTENCES, [0, 2, 1, 1])
    model.train()
    loss, _, log = criterion(model, sample)
    grads = torch.autograd.grad(loss, list(model.parameters()), allow_unused=True)
    base_loss, _, _ = baseline(model, sample)
    base_grads = torch.autograd.grad(base_loss, list(model.parameters()), allow_unused=True)
    assert log["kl_loss"].item() == pytest.approx(0.0, abs=1e-6)
    assert loss.item() == pytest.approx(2 * base_loss.item(), rel=1e-5)
    for g, b in zip(grads, base_grads):
        if b is not None:
            torch.testing.assert_close(g, 2 * b, rtol=1e-4, atol=1e-6)


def criterion_cfg_like(criterion, **overrides):
    from fairseq.criterions.sentence_prediction import SentencePredictionConfig

    values = dict(
        classification_head_name=criterion.classification_head_name,
        regression_target=criterion.regression_target,
        report_mcc=criterion.report_mcc,
        report_acc_and_f1=criterion.report_acc_and_f1,
        report_pearson_and_spearman=criterion.report_pearson_and_spearman,
    )
    values.update(overrides)
    return SentencePredictionConfig(**values)


@pytest.mark.parametrize(
    "regression,flags",
    [(False, ["--num-classes", "3", "--report-mcc"]), (True, ["--num-classes", "1", "--regression-target"])],
)
def test_validation_equals_fairseq_sentence_prediction(cls_dir, reg_dir, regression, flags):
    data = reg_dir if regression else cls_dir
    extra = ["--report-pearson-and-spearman"] if regression else []
    _, task, model, criterion = build(data, *TINY_ROBERTA, "--dropout", "0.3", *flags, *extra)
    baseline = SentencePredictionCriterion(criterion_cfg_like(criterion), task)
    labels = [3.5, 1.0, 2.25, 4.0] if regression else [0, 2, 1, 1]
    sample = make_sample(task, SENTENCES, labels, regression=regression)
    model.eval()
    loss, size, log = criterion(model, sample)
    base_loss, base_size, base_log = baseline(model, sample)
    assert loss.item() == base_loss.item() and size == base_size == 4
    assert "kl_loss" not in log
    for key, value in base_log.items():
        assert log[key] == value if not torch.is_tensor(value) else torch.equal(log[key], value), key
    assert log["pred"] and log["targ"]


class BackwardOnly:
    def backward(self, loss):
        loss.backward()


def test_every_k_updates_applies_rdrop_one_update_in_k(cls_dir):
    _, task, model, criterion = build(
        cls_dir, *TINY_ROBERTA, *NO_DROPOUT, "--num-classes", "3", "--reg-every", "2"
    )
    baseline = SentencePredictionCriterion(criterion_cfg_like(criterion), task)
    sample = make_sample(task, SENTENCES, [0, 2, 1, 1])
    model.train()
    base_loss = baseline(model, sample)[0].item()
    seen = []
    for update in range(4):
        # the task hands the update number over, as fairseq's Trainer calls it
        task.train_step(sample, model, criterion, BackwardOnly(), update)
        loss, _, log = criterion(model, sample)
        seen.append(("kl_loss" in log, round(loss.item() / base_loss, 4)))
    assert seen == [(True, 2.0), (False, 1.0), (True, 2.0), (False, 1.0)]


def test_two_dropout_rates_run_and_differ(cls_dir):
    _, task, model, criterion = build(
        cls_dir, *TINY_ROBERTA, "--num-classes", "3", "--reg-dropouts", "0.0,0.5"
    )
    sample = make_sample(task, SENTENCES, [0, 2, 1, 1])
    model.train()
    _, _, log = criterion(model, sample)
    assert log["kl_loss"].item() > 0


def test_cutoff_reaches_roberta_embeddings(cls_dir):
    """Without dropout the copies differ only through --reg-cutoff-type: a positive KL
    proves the cut reached RoBERTa's token embeddings."""
    _, task, model, criterion = build(
        cls_dir, *TINY_ROBERTA, *NO_DROPOUT, "--num-classes", "3", "--reg-cutoff-type", "token",
        "--reg-cutoff-rate", "0.3",
    )  # fmt: skip
    sample = make_sample(task, SENTENCES, [0, 2, 1, 1])
    torch.manual_seed(0)
    _, _, log = criterion(model.train(), sample)
    assert log["kl_loss"].item() > 0
    _, task, model, criterion = build(cls_dir, *TINY_ROBERTA, *NO_DROPOUT, "--num-classes", "3")
    _, _, log = criterion(model.train(), sample)
    assert log["kl_loss"].item() == pytest.approx(0.0, abs=1e-6)


def test_decoder_cutoff_on_roberta_is_a_clear_error(cls_dir):
    _, task, model, criterion = build(
        cls_dir, *TINY_ROBERTA, "--num-classes", "3", "--reg-cutoff-type", "token",
        "--reg-cutoff-rate", "0.3", "--reg-cutoff-decoder",
    )  # fmt: skip
    sample = make_sample(task, SENTENCES, [0, 2, 1, 1])
    with pytest.raises(RDropConfigError, match="decoder.embed_tokens.*drop --reg-cutoff-decoder"):
        criterion(model.train(), sample)


def test_reduce_metrics_keeps_fairseq_metrics_and_adds_kl(cls_dir):
    train = [
        {"loss": 8.0, "ntokens": 20, "nsentences": 4, "sample_size": 4, "ncorrect": 3,
         "task_loss": 6.0, "task_count": 8, "kl_loss": 2.0, "kl_nsentences": 4},
        {"loss": 2.0, "ntokens": 10, "nsentences": 2, "sample_size": 2, "ncorrect": 1,
         "task_loss": 2.0, "task_count": 2},
    ]  # fmt: skip
    with metrics.aggregate() as agg:
        RegSentencePredictionCriterion.reduce_metrics(train)
    values = agg.get_smoothed_values()
    ln2 = torch.log(torch.tensor(2.0)).item()
    assert values["loss"] == pytest.approx(10.0 / 6 / ln2, abs=1e-3)
    assert values["accuracy"] == pytest.approx(100 * 4 / 6, abs=0.1)
    assert values["task_loss"] == pytest.approx(8.0 / 10 / ln2, abs=1e-3)
    assert values["kl_loss"] == pytest.approx(2.0 / 4 / ln2, abs=1e-3)

    regression = [{"loss": 5.0, "ntokens": 20, "nsentences": 4, "sample_size": 4, "task_loss": 4.0,
                   "task_count": 8, "copies_mse": 2.0, "kl_nsentences": 4}]  # fmt: skip
    with metrics.aggregate() as agg:
        RegSentencePredictionCriterion.reduce_metrics(regression)
    values = agg.get_smoothed_values()
    assert values["copies_mse"] == pytest.approx(0.5) and "kl_loss" not in values

    valid = [{"loss": 1.0, "ntokens": 5, "nsentences": 4, "sample_size": 4, "ncorrect": 2,
              "pred": [1, 0, 1, 1], "targ": [1, 0, 0, 1], "report_mcc": True}]  # fmt: skip
    with metrics.aggregate() as agg:
        RegSentencePredictionCriterion.reduce_metrics(valid)
    values = agg.get_smoothed_values()
    assert "kl_loss" not in values
    assert values["mcc"] == pytest.approx(57.7, abs=0.1)


@pytest.mark.parametrize(
    "regression_data,flags,message",
    [
        (True, ["--num-classes", "1"], "add --regression-target"),
        (False, ["--num-classes", "3", "--regression-target"], "drop --regression-target"),
        (False, ["--num-classes", "2"], "set --num-classes 3"),
        (False, [], "--num-classes is required"),
        (True, ["--num-classes", "2", "--regression-target"], "set --num-classes 1"),
        (False, ["--num-classes", "3", "--reg-alpha", "-1"], "--reg-alpha"),
    ],
)
def test_data_that_does_not_fit_the_flags_is_a_clear_error(tmp_path, regression_data, flags, message):
    data = write_glue_dicts(str(tmp_path / "d"), regression=regression_data)
    with pytest.raises(RDropConfigError, match=message.replace("-", r"\-")):
        build(data, *TINY_ROBERTA, *flags)


def test_model_without_a_classification_head_is_a_clear_error(cls_dir, tmp_path):
    with pytest.raises(RDropConfigError, match="has no classification head"):
        build(cls_dir, "--arch", "transformer", "--num-classes", "3")
    _, task, model, criterion = build(cls_dir, *TINY_ROBERTA, "--num-classes", "3")
    criterion.classification_head_name = "mnli_head"
    with pytest.raises(RDropConfigError, match="--classification-head-name"):
        criterion(model.train(), make_sample(task, SENTENCES, [0, 2, 1, 1]))


def test_folder_and_task_mistakes_are_clear_errors(cls_dir, tmp_path):
    with pytest.raises(RDropConfigError, match="does not exist"):
        build(str(tmp_path / "nowhere"), *TINY_ROBERTA, "--num-classes", "2")
    os.makedirs(tmp_path / "flat")
    with pytest.raises(RDropConfigError, match="input0/dict.txt"):
        build(str(tmp_path / "flat"), *TINY_ROBERTA, "--num-classes", "2")
    with pytest.raises(RDropConfigError, match="--task rdrop_sentence_prediction"):
        build(cls_dir, *TINY_ROBERTA, "--num-classes", "3", task="sentence_prediction")
