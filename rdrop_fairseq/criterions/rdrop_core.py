"""What every R-Drop criterion shares, whatever its task family: the
options' validation, the update number (``--reg-every``), the one forward
pass over the copies, and the consistency term's logged units.

A family's criterion mixes this in before its fairseq base criterion and
keeps only what differs: how a model output becomes the task loss and the
divergence. Validation and non-R-Drop updates stay the base criterion's.
"""

import math

import torch
from fairseq.logging import metrics

from ..errors import RDropConfigError
from ..tasks.update_number import PassesUpdateNumber
from .input_cutoff import InputCutoff
from .rdrop_options import RDropOptions, task_copies, validate


def repeat_batch(net_input, copies):
    """Every tensor of ``net_input`` stacked ``copies`` times along the batch dim."""
    return {
        key: torch.cat([value] * copies, dim=0) if torch.is_tensor(value) else value
        for key, value in net_input.items()
    }


class RDropCore:
    @classmethod
    def check_task(cls, task, name: str) -> None:
        """Called first in ``__init__``: the base criterion's own constructor already
        reads the task (sentence prediction's ``label_dictionary``), and would fail
        there with an AttributeError. ``name``: the registered name, for the error."""
        if not isinstance(task, PassesUpdateNumber):
            # The task tells the criterion which update it is on (--reg-every) and
            # keeps validation single-copy; without it R-Drop would be half-applied.
            raise RDropConfigError(
                f"--criterion {name} needs {cls.rdrop_task_hint} (got task {type(task).__name__}); "
                "each takes every option of the fairseq task of the same name without rdrop_"
            )

    def init_rdrop(self, task, name: str, options: RDropOptions) -> None:
        """``options``: the criterion's config, validated here once per construction
        (after ``check_task``)."""
        self.dropout_rates = validate(options)
        self.alpha = float(options.reg_alpha)
        self.direction = str(options.reg_kl_direction)
        self.copies = int(options.reg_passes)
        self.task_copies = task_copies(options)  # leading copies carrying the task loss
        self.every = int(options.reg_every)
        self.loss_impl = str(options.reg_loss_impl)
        self.update_num = 0
        self.cutoff = InputCutoff.for_task(
            task,
            options.reg_cutoff_type,
            options.reg_cutoff_rate or 0.0,
            self.copies,
            getattr(self, "padding_idx", 1),
            decoder_input=bool(options.reg_cutoff_decoder),
        )

    rdrop_task_hint = "an R-Drop task"

    def set_update_num(self, update_num: int) -> None:
        self.update_num = update_num

    def is_rdrop_step(self, model) -> bool:
        return model.training and self.update_num % self.every == 0

    def forward_copies(self, model, net_input, **model_kwargs):
        """The model's output over all copies, copy k in batch rows k*B .. (k+1)*B."""
        if self.dropout_rates is not None:
            return self.dropout_rates.forward_two_passes(model, net_input, **model_kwargs)
        batch = repeat_batch(net_input, self.copies)
        with self.cutoff.applied(model, batch):  # --reg-cutoff-type
            return model(**batch, **model_kwargs)

    def with_consistency(self, task_loss, divergence):
        return task_loss + self.alpha * divergence if self.alpha != 0 else task_loss

    @staticmethod
    def reduce_divergence(logging_outputs, count_key) -> None:
        """``kl_loss``: the divergence alpha multiplies, in base 2 per ``count_key``
        unit; only R-Drop updates carry one (with --reg-every k the others leave it out)."""
        count = sum(log.get(count_key, 0) for log in logging_outputs)
        if count > 0:
            divergence = sum(log.get("kl_loss", 0) for log in logging_outputs)
            metrics.log_scalar("kl_loss", divergence / count / math.log(2), count, round=4)
