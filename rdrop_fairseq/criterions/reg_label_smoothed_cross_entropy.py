"""``reg_label_smoothed_cross_entropy``: label-smoothed cross-entropy with the
R-Drop consistency term (Liang, Wu et al., NeurIPS 2021).

A thin adapter: the tensor math lives in ``consistency.py`` (reference, from
log-probs) and ``fused_head.py`` (the lean path, from logits). In training the
batch goes through the model once as [x; x] (m copies in general); in
evaluation the criterion is exactly fairseq's ``label_smoothed_cross_entropy``.
"""

import math
from dataclasses import dataclass, field
from typing import Optional

import torch
from fairseq import utils
from fairseq.criterions import register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import (
    LabelSmoothedCrossEntropyCriterion,
    LabelSmoothedCrossEntropyCriterionConfig,
    label_smoothed_nll_loss,
)
from fairseq.dataclass import ChoiceEnum
from fairseq.logging import metrics

from ..consistency import BIDIRECTIONAL, DIRECTIONS, check_copies, consistency_divergence
from ..errors import RDropConfigError
from ..fused_head import fused_rdrop_loss
from .dropout_rates import DropoutRates

LOSS_IMPLS = ("fused", "reference")


@dataclass
class RegLabelSmoothedCrossEntropyConfig(LabelSmoothedCrossEntropyCriterionConfig):
    reg_alpha: float = field(
        default=5.0,
        metadata={
            "help": "weight alpha of the consistency (KL) term; 5 is the paper's NMT value, "
            "0 keeps the duplicated batch without the KL term"
        },
    )
    reg_kl_direction: ChoiceEnum(DIRECTIONS) = field(
        default=BIDIRECTIONAL,
        metadata={
            "help": "bidirectional: alpha/2*[KL(P1||P2)+KL(P2||P1)] (paper); "
            "unidirectional: alpha*KL(P1||P2), gradients through both passes"
        },
    )
    reg_passes: int = field(
        default=2,
        metadata={
            "help": "m sub-models per sentence (paper sec. 4.3); KL term is "
            "alpha/(m(m-1)) * sum_{i!=j} KL(Pi||Pj)"
        },
    )
    reg_every: int = field(
        default=1,
        metadata={
            "help": "apply R-Drop on every k-th update only, plain LS-CE on the others (paper sec. 4.2)"
        },
    )
    reg_dropouts: Optional[str] = field(
        default=None,
        metadata={
            "help": "two comma-separated dropout rates 'p1,p2' for the two sub-models "
            "(paper sec. 4.4; two forward passes); replaces --dropout in training"
        },
    )
    reg_loss_impl: ChoiceEnum(LOSS_IMPLS) = field(
        default="fused",
        metadata={
            "help": "fused: chunked fp32 loss head with hand-written backward (lean); "
            "reference: autograd over fp32 log-softmax (for checking)"
        },
    )


def validate_config(alpha, passes, every, direction, dropouts):
    """Reject what cannot be what the user meant, with the flag to change."""
    if alpha is None or not math.isfinite(alpha) or alpha < 0:
        raise RDropConfigError(
            f"--reg-alpha must be a finite number >= 0 (got {alpha}); the paper uses 5 for "
            "translation, and 0 keeps the duplicated batch without the KL term"
        )
    check_copies(passes, str(direction))
    if every < 1:
        raise RDropConfigError(f"--reg-every must be >= 1 (got {every}); 1 applies R-Drop on every update")
    rates = DropoutRates.parse(dropouts)
    if rates is not None and passes != 2:
        raise RDropConfigError("--reg-dropouts gives one rate per sub-model and needs --reg-passes 2")
    return rates


@register_criterion("reg_label_smoothed_cross_entropy", dataclass=RegLabelSmoothedCrossEntropyConfig)
class RegLabelSmoothedCrossEntropyCriterion(LabelSmoothedCrossEntropyCriterion):
    def __init__(
        self,
        task,
        sentence_avg,
        label_smoothing,
        ignore_prefix_size=0,
        report_accuracy=False,
        reg_alpha=5.0,
        reg_kl_direction=BIDIRECTIONAL,
        reg_passes=2,
        reg_every=1,
        reg_dropouts=None,
        reg_loss_impl="fused",
    ):
        super().__init__(task, sentence_avg, label_smoothing, ignore_prefix_size, report_accuracy)
        from ..tasks.rdrop_translation import RDropTranslationTask

        if not isinstance(task, RDropTranslationTask):
            # The task tells the criterion which update it is on (--reg-every) and
            # keeps validation single-copy; without it R-Drop would be half-applied.
            raise RDropConfigError(
                "--criterion reg_label_smoothed_cross_entropy needs --task rdrop_translation "
                f"(got task {type(task).__name__}); it takes every option of --task translation"
            )
        self.dropout_rates = validate_config(reg_alpha, reg_passes, reg_every, reg_kl_direction, reg_dropouts)
        self.alpha = float(reg_alpha)
        self.direction = str(reg_kl_direction)
        self.copies = int(reg_passes)
        self.every = int(reg_every)
        self.loss_impl = str(reg_loss_impl)
        self.update_num = 0

    def set_update_num(self, update_num: int) -> None:
        self.update_num = update_num

    def is_rdrop_step(self, model) -> bool:
        return model.training and self.update_num % self.every == 0

    def forward(self, model, sample, reduce=True):
        if not self.is_rdrop_step(model):
            loss, sample_size, logging_output = super().forward(model, sample, reduce=reduce)
            logging_output["nll_ntokens"] = sample["ntokens"]
            return loss, sample_size, logging_output
        if not reduce:
            raise RDropConfigError("reg_label_smoothed_cross_entropy trains with reduce=True only")

        if self.dropout_rates is not None:
            logits, extra = self.dropout_rates.forward_two_passes(model, sample["net_input"])
        else:
            logits, extra = model(**repeat_batch(sample["net_input"], self.copies))
        target = self.masked_target(model, sample, (logits, extra))
        ls_loss, nll_loss, divergence = self.loss_head(model, logits, extra, sample, target)
        loss = ls_loss + self.alpha * divergence if self.alpha != 0 else ls_loss

        ntokens = sample["ntokens"]
        sample_size = sample["target"].size(0) if self.sentence_avg else ntokens
        logging_output = {
            "loss": loss.data,
            "nll_loss": nll_loss.data,
            "kl_loss": divergence.data,
            "ntokens": ntokens,
            "nll_ntokens": ntokens * self.copies,
            "kl_ntokens": ntokens,
            "nsentences": sample["target"].size(0),
            "sample_size": sample_size,
        }
        if self.report_accuracy:
            first_copy = logits[: target.size(0)]
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

    def loss_head(self, model, logits, extra, sample, target):
        flat_target = target.reshape(-1)
        if self.loss_impl == "fused" and getattr(model.decoder, "adaptive_softmax", None) is None:
            return fused_rdrop_loss(
                logits.view(-1, logits.size(-1)),
                flat_target,
                self.copies,
                self.eps,
                self.padding_idx,
                self.direction,
            )
        lprobs = model.get_normalized_probs((logits, extra), log_probs=True)
        lprobs = lprobs.view(-1, lprobs.size(-1))
        ls_loss, nll_loss = label_smoothed_nll_loss(
            lprobs, flat_target.repeat(self.copies), self.eps, ignore_index=self.padding_idx
        )
        divergence = consistency_divergence(
            lprobs.float(), self.copies, self.direction, flat_target.ne(self.padding_idx)
        ).sum()
        return ls_loss, nll_loss, divergence

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        def total(key):
            return sum(log.get(key, 0) for log in logging_outputs)

        sample_size = total("sample_size")
        nll_ntokens = total("nll_ntokens") or total("ntokens")
        kl_ntokens = total("kl_ntokens")
        ln2 = math.log(2)
        # Units decided once, here, as fairseq's criterion does: base 2, per
        # token; nll per token of every copy so it compares with a baseline run.
        metrics.log_scalar("loss", total("loss") / sample_size / ln2, sample_size, round=3)
        metrics.log_scalar("nll_loss", total("nll_loss") / nll_ntokens / ln2, nll_ntokens, round=3)
        metrics.log_derived("ppl", lambda meters: utils.get_perplexity(meters["nll_loss"].avg))
        if kl_ntokens > 0:
            # only R-Drop updates carry a KL; with --reg-every k the others leave it out
            metrics.log_scalar("kl_loss", total("kl_loss") / kl_ntokens / ln2, kl_ntokens, round=4)

        n_total = utils.item(total("total"))
        if n_total > 0:
            metrics.log_scalar("total", n_total)
            metrics.log_scalar("n_correct", utils.item(total("n_correct")))
            metrics.log_derived("accuracy", _accuracy)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True


def _accuracy(meters):
    seen = meters["total"].sum
    return round(meters["n_correct"].sum * 100.0 / seen, 3) if seen > 0 else float("nan")


def repeat_batch(net_input, copies):
    """Every tensor of ``net_input`` stacked ``copies`` times along the batch dim."""
    return {
        key: torch.cat([value] * copies, dim=0) if torch.is_tensor(value) else value
        for key, value in net_input.items()
    }


def count_correct(logits, target, padding_idx):
    flat_target = target.reshape(-1)
    mask = flat_target.ne(padding_idx)
    predicted = logits.reshape(-1, logits.size(-1)).argmax(-1)
    return (predicted.eq(flat_target) & mask).sum(), mask.sum()
