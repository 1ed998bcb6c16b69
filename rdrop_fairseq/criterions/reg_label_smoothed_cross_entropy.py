"""``reg_label_smoothed_cross_entropy``: label-smoothed cross-entropy with the
R-Drop consistency term (Liang, Wu et al., NeurIPS 2021), for every task whose
model ends in a decoder: translation, summarization (BART) and language
modeling (``--label-smoothing 0``, the default, is plain cross-entropy).

A thin adapter: the shared R-Drop parts live in ``rdrop_core.py``; the tensor
math in ``consistency.py`` (reference, from log-probs), ``fused_head.py`` (the
lean path, from logits) and ``adaptive_softmax_loss.py`` (adaptive softmax,
exact and factorised). In training the batch goes through the model once as
[x; x] (m copies in general); in evaluation the criterion is exactly fairseq's
``label_smoothed_cross_entropy``.
"""

import math
from dataclasses import dataclass

import torch
from fairseq import utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
    label_smoothed_nll_loss,
)
from fairseq.logging import metrics

from ..adaptive_softmax_loss import adaptive_rdrop_loss
from ..consistency import consistency_divergence
from ..errors import RDropConfigError
from ..fused_head import fused_rdrop_loss
from .rdrop_core import RDropCore
from .rdrop_options import RDropOptions


@dataclass
class RegLabelSmoothedCrossEntropyConfig(LabelSmoothedCrossEntropyCriterionConfig, RDropOptions):
    pass


NAME = "reg_label_smoothed_cross_entropy"


@register_criterion(NAME, dataclass=RegLabelSmoothedCrossEntropyConfig)
class RegLabelSmoothedCrossEntropyCriterion(RDropCore, LabelSmoothedCrossEntropyCriterion):
    rdrop_task_hint = "--task rdrop_translation (or rdrop_language_modeling)"

    def __init__(self, task, cfg: RegLabelSmoothedCrossEntropyConfig):
        self.check_task(task, NAME)
        if not 0 <= cfg.label_smoothing < 1:
            # fairseq takes any number: above 1 or below 0 the loss rewards wrong words
            raise RDropConfigError(
                f"--label-smoothing must be in [0, 1) (got {cfg.label_smoothing}); 0.1 is the usual value"
            )
        super().__init__(
            task, cfg.sentence_avg, cfg.label_smoothing, cfg.ignore_prefix_size, cfg.report_accuracy
        )
        self.init_rdrop(task, NAME, cfg)

    def forward(self, model, sample, reduce=True):
        rdrop = self.is_rdrop_step(model)
        if not rdrop and not (model.training and _adaptive_softmax(model) is not None):
            loss, sample_size, logging_output = super().forward(model, sample, reduce=reduce)
            logging_output["nll_ntokens"] = sample["ntokens"]
            return loss, sample_size, logging_output
        if not reduce:
            raise ValueError(f"{NAME} trains with reduce=True only")

        # fairseq's own adaptive-softmax training path adds in place inside
        # autograd, so a single-copy update with an adaptive softmax comes here too
        copies = self.copies if rdrop else 1
        task_copies = self.task_copies if rdrop else 1
        net_output = (
            self.forward_copies(model, sample["net_input"]) if rdrop else model(**sample["net_input"])
        )
        target = self.masked_target(model, sample, net_output)
        ls_loss, nll_loss, divergence = self.loss_head(model, net_output, target, copies, task_copies)
        loss = self.with_consistency(ls_loss, divergence)

        ntokens = sample["ntokens"]
        sample_size = sample["target"].size(0) if self.sentence_avg else ntokens
        logging_output = {
            "loss": loss.data,
            "nll_loss": nll_loss.data,
            "ntokens": ntokens,
            "nll_ntokens": ntokens * task_copies,
            "nsentences": sample["target"].size(0),
            "sample_size": sample_size,
        }
        if rdrop:
            logging_output["kl_loss"] = divergence.data
            logging_output["kl_ntokens"] = ntokens
        if self.report_accuracy and _adaptive_softmax(model) is None:
            first_copy = net_output[0][: target.size(0)]
            n_correct, total = count_correct(first_copy, target, self.padding_idx)
            logging_output["n_correct"] = n_correct
            logging_output["total"] = total
        return loss, sample_size, logging_output

    def masked_target(self, model, sample, net_output):
        target = model.get_targets(sample, net_output)
        if self.ignore_prefix_size > 0:
            # Masking the prefix is what slicing it off would give, without
            # copying the [m*B, T, V] logits to make the slice contiguous.
            target = target.clone()
            target[:, : self.ignore_prefix_size] = self.padding_idx
        return target

    def loss_head(self, model, net_output, target, copies, task_copies):
        """(label-smoothed NLL, NLL) summed over the first ``task_copies`` copies,
        and the divergence over all of them."""
        flat_target = target.reshape(-1)
        adaptive = _adaptive_softmax(model)
        if adaptive is not None:
            hidden = net_output[0]
            hidden = adaptive.dropout_module(hidden.reshape(-1, hidden.size(-1)))
            return adaptive_rdrop_loss(
                hidden,
                flat_target,
                adaptive.head,
                list(adaptive.tail),
                adaptive.cutoff,
                copies,
                self.eps,
                self.padding_idx,
                self.direction,
                task_copies,
            )
        logits = net_output[0]
        if self.loss_impl == "fused":
            return fused_rdrop_loss(
                logits.view(-1, logits.size(-1)),
                flat_target,
                copies,
                self.eps,
                self.padding_idx,
                self.direction,
                task_copies=task_copies,
            )
        lprobs = model.get_normalized_probs(net_output, log_probs=True)
        lprobs = lprobs.view(-1, lprobs.size(-1))
        # the copies without a task loss get an all-padding target
        no_task = flat_target.new_full(((copies - task_copies) * flat_target.numel(),), self.padding_idx)
        ls_loss, nll_loss = label_smoothed_nll_loss(
            lprobs,
            torch.cat([flat_target.repeat(task_copies), no_task]),
            self.eps,
            ignore_index=self.padding_idx,
        )
        divergence = consistency_divergence(
            lprobs.float(), copies, self.direction, flat_target.ne(self.padding_idx)
        ).sum()
        return ls_loss, nll_loss, divergence

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        def total(key):
            return sum(log.get(key, 0) for log in logging_outputs)

        sample_size = total("sample_size")
        nll_ntokens = total("nll_ntokens") or total("ntokens")
        ln2 = math.log(2)
        # Units decided once, here, as fairseq's criterion does: base 2, per
        # token; nll per token of every copy so it compares with a baseline run.
        metrics.log_scalar("loss", total("loss") / sample_size / ln2, sample_size, round=3)
        metrics.log_scalar("nll_loss", total("nll_loss") / nll_ntokens / ln2, nll_ntokens, round=3)
        metrics.log_derived("ppl", lambda meters: utils.get_perplexity(meters["nll_loss"].avg))
        cls.reduce_divergence(logging_outputs, "kl_ntokens")

        n_total = utils.item(total("total"))
        if n_total > 0:
            metrics.log_scalar("total", n_total)
            metrics.log_scalar("n_correct", utils.item(total("n_correct")))
            metrics.log_derived("accuracy", _accuracy)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True


def _adaptive_softmax(model):
    return getattr(getattr(model, "decoder", None), "adaptive_softmax", None)


def _accuracy(meters):
    seen = meters["total"].sum
    return round(meters["n_correct"].sum * 100.0 / seen, 3) if seen > 0 else float("nan")


def count_correct(logits, target, padding_idx):
    flat_target = target.reshape(-1)
    mask = flat_target.ne(padding_idx)
    predicted = logits.reshape(-1, logits.size(-1)).argmax(-1)
    return (predicted.eq(flat_target) & mask).sum(), mask.sum()
