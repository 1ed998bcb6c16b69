"""``reg_sentence_prediction``: fairseq's ``sentence_prediction`` (GLUE
fine-tuning of RoBERTa/BART, classification and regression) with the R-Drop
consistency term, on the shared core (``rdrop_core.py``).

One training update over a batch of B sentences, m copies (m = 2 by default):

* classification: Σ_sentences Σ_copies CE + α · Σ_sentences D(P1..Pm), where D
  is ``consistency_divergence`` over the class distributions (½[KL12+KL21]
  for two copies: the paper's Eq. 3);
* regression (``--regression-target``): Σ_sentences [Σ_copies ‖y − y_k‖²
  + α · 1/(m(m−1)) Σ_{i≠j} ‖y_i − y_j‖²], which for m = 2 is the paper's
  MSE(y, y1) + MSE(y, y2) + α·MSE(y1, y2).

``sample_size`` is B, as in fairseq's criterion: the translation criterion's
convention (sums over the batch, task loss summed over copies, α times the
divergence per unit) with the sentence as the unit. Validation and non-R-Drop
updates are fairseq's ``sentence_prediction`` exactly; logging reuses its
``reduce_metrics`` (accuracy, MCC, F1, Pearson/Spearman), plus ``task_loss`` (per
sentence and copy) and the consistency term per sentence: ``kl_loss`` (base 2) for
classification, ``copies_mse`` (label units) for regression.
"""

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq.criterions import register_criterion
from fairseq.criterions.sentence_prediction import (
    SentencePredictionConfig,
    SentencePredictionCriterion,
)
from fairseq.logging import metrics

from ..consistency import consistency_divergence
from ..errors import RDropConfigError
from .rdrop_core import RDropCore
from .rdrop_options import RDropOptions


@dataclass
class RegSentencePredictionConfig(SentencePredictionConfig, RDropOptions):
    reg_alpha: float = field(
        default=1.0,
        metadata={
            "help": "weight alpha of the consistency term per sentence (paper Eq. 4); the paper's "
            "GLUE values are 0.5 or 1.0 (configs/finetune-glue.toml)"
        },
    )


def squared_spread(predictions: torch.Tensor, copies: int) -> torch.Tensor:
    """Per-sentence 1/(m(m−1)) Σ_{i≠j} ‖y_i − y_j‖² from ``[copies*B, K]``
    predictions; (y1 − y2)² for two copies. Computed around the mean,
    Σ_{i≠j} ‖y_i − y_j‖² = 2m Σ_i ‖y_i − ȳ‖², in O(m)."""
    stacked = predictions.view(copies, -1, predictions.size(-1))
    centred = stacked - stacked.mean(0, keepdim=True)
    return 2.0 / (copies - 1) * centred.pow(2).sum(-1).sum(0)


NAME = "reg_sentence_prediction"


@register_criterion(NAME, dataclass=RegSentencePredictionConfig)
class RegSentencePredictionCriterion(RDropCore, SentencePredictionCriterion):
    rdrop_task_hint = "--task rdrop_sentence_prediction"

    def __init__(self, cfg: RegSentencePredictionConfig, task):
        self.check_task(task, NAME)
        super().__init__(cfg, task)
        self.init_rdrop(task, NAME, cfg)

    def check_head(self, model):
        heads = getattr(model, "classification_heads", None)
        if heads is None or self.classification_head_name not in heads:
            known = sorted(heads) if heads is not None else []
            raise RDropConfigError(
                f"the model has no classification head {self.classification_head_name!r} "
                f"(it has {known or 'none'}); set --classification-head-name to one of its heads, "
                "or fine-tune with --task rdrop_sentence_prediction, which adds it"
            )

    def forward(self, model, sample, reduce=True):
        self.check_head(model)
        if not self.is_rdrop_step(model):
            loss, sample_size, logging_output = super().forward(model, sample, reduce=reduce)
            logging_output["task_loss"] = loss.detach()
            logging_output["task_count"] = sample_size
            return loss, sample_size, logging_output

        copies = self.copies
        logits, _ = self.forward_copies(
            model,
            sample["net_input"],
            features_only=True,
            classification_head_name=self.classification_head_name,
        )
        targets = model.get_targets(sample, [logits]).view(-1)
        sample_size = targets.numel()
        task_rows = self.task_copies * sample_size  # the copies carrying the task loss come first
        if self.regression_target:
            predictions = logits.float().view(copies * sample_size, -1)
            gold = targets.float().view(sample_size, -1).repeat(self.task_copies, 1)
            task_loss = F.mse_loss(predictions[:task_rows], gold, reduction="sum")
            divergence = squared_spread(predictions, copies).sum()
        else:
            lprobs = F.log_softmax(logits, dim=-1, dtype=torch.float32)
            task_loss = F.nll_loss(lprobs[:task_rows], targets.repeat(self.task_copies), reduction="sum")
            divergence = consistency_divergence(lprobs, copies, self.direction).sum()
        loss = self.with_consistency(task_loss, divergence)

        logging_output = {}
        # RoBERTa's optional attention-head / FFN regularisers, as the base criterion adds them
        for key, scale, term in (
            ("mha_reg_loss", "mha_reg_scale_factor", "_get_adaptive_head_loss"),
            ("ffn_reg_loss", "ffn_reg_scale_factor", "_get_adaptive_ffn_loss"),
        ):
            if getattr(getattr(model, "args", None), scale, 0.0) != 0.0:
                extra = getattr(model, term)()
                loss = loss + extra
                logging_output[key] = extra

        logging_output.update(
            {
                "loss": loss.data,
                "ntokens": sample["ntokens"],
                "nsentences": sample_size,
                "sample_size": sample_size,
                "task_loss": task_loss.data,
                "task_count": task_rows,
                "kl_nsentences": sample_size,
            }
        )
        # a squared difference between copies is no KL: its own key, in its own units
        logging_output["copies_mse" if self.regression_target else "kl_loss"] = divergence.data
        if not self.regression_target:
            # accuracy of the first sub-model, the one a baseline run would report
            first_copy = logits[:sample_size].argmax(dim=1)
            logging_output["ncorrect"] = (first_copy == targets).sum()
        return loss, sample_size, logging_output

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        SentencePredictionCriterion.reduce_metrics(logging_outputs)
        count = sum(log.get("task_count", 0) for log in logging_outputs)
        if count > 0:
            # per sentence and copy: compares with a baseline run's training loss
            task_loss = sum(log.get("task_loss", 0) for log in logging_outputs)
            metrics.log_scalar("task_loss", task_loss / count / math.log(2), count, round=3)
        if any("kl_loss" in log for log in logging_outputs):
            cls.reduce_divergence(logging_outputs, "kl_nsentences")
        count = sum(log.get("kl_nsentences", 0) for log in logging_outputs)
        if count > 0 and any("copies_mse" in log for log in logging_outputs):
            # regression: the squared difference between the copies' predictions, per sentence
            spread = sum(log.get("copies_mse", 0) for log in logging_outputs)
            metrics.log_scalar("copies_mse", spread / count, count, round=4)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
