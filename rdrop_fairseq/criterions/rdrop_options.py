"""The R-Drop options, defined once and mixed into every R-Drop criterion's
config, and validated once (``validate``, over that config).

Nothing else lists them: fairseq hands a criterion whose ``__init__`` takes a
``cfg`` parameter its whole config (``FairseqCriterion.build_criterion``), and
the criterion passes it on to the shared core (``rdrop_core.RDropCore``).

Each task family's criterion config inherits these fields next to its base
criterion's; a family may override a default (e.g. ``reg_alpha``) by
redefining the field.
"""

import math
from dataclasses import dataclass, field
from typing import Optional

from fairseq.dataclass import ChoiceEnum, FairseqDataclass

from ..consistency import BIDIRECTIONAL, DIRECTIONS, check_copies
from ..cutoff import CUTOFF_TYPES, NONE
from ..errors import RDropConfigError
from .dropout_rates import DropoutRates

LOSS_IMPLS = ("fused", "reference")
ALL_COPIES = "all-copies"
FIRST_COPY = "first-copy"
TASK_LOSS_COPIES = (ALL_COPIES, FIRST_COPY)


@dataclass
class RDropOptions(FairseqDataclass):
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
            "help": "copies of each sentence in the one forward pass (sub-models, paper sec. 4.3); "
            "KL term is alpha/(m(m-1)) * sum_{i!=j} KL(Pi||Pj)"
        },
    )
    reg_every: int = field(
        default=1,
        metadata={
            "help": "apply R-Drop on every k-th update only, the plain loss on the others (paper sec. 4.2)"
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
    reg_cutoff_type: ChoiceEnum(CUTOFF_TYPES) = field(
        default=NONE,
        metadata={
            "help": "Cutoff (Shen et al. 2020) on the source embeddings of every copy but the first: "
            "token (whole tokens), span (one contiguous span per sentence), dimension (embedding "
            "dimensions per sentence); none: plain R-Drop"
        },
    )
    reg_cutoff_rate: Optional[float] = field(
        default=None,
        metadata={
            "help": "fraction cut with --reg-cutoff-type, in [0, 1) (e.g. 0.05, SimCut's p); "
            "0 is plain R-Drop, bit for bit"
        },
    )
    reg_cutoff_decoder: bool = field(
        default=False,
        metadata={
            "help": "also cut the decoder input embeddings (prev_output_tokens) of the same copies, "
            "drawn independently, as SimCut does; encoder-decoder models only"
        },
    )
    reg_task_loss: ChoiceEnum(TASK_LOSS_COPIES) = field(
        default=ALL_COPIES,
        metadata={
            "help": "which copies carry the task loss (NLL, label-smoothed NLL, or squared error): "
            "all-copies (R-Drop paper) or first-copy, the clean one (SimCut); the KL term always "
            "spans all copies"
        },
    )


def validate(options: RDropOptions) -> Optional[DropoutRates]:
    """Reject what cannot be what the user meant, with the flag to change;
    return the parsed two-rate setting (None without ``--reg-dropouts``).

    ``options``: a criterion's config (this dataclass mixed in), as fairseq
    hands it to the criterion or as a test builds it."""
    alpha = options.reg_alpha
    if alpha is None or not math.isfinite(alpha) or alpha < 0:
        raise RDropConfigError(
            f"--reg-alpha must be a finite number >= 0 (got {alpha}); the paper uses 5 for "
            "translation, and 0 keeps the duplicated batch without the KL term"
        )
    copies = options.reg_passes
    check_copies(copies, str(options.reg_kl_direction))
    if options.reg_every < 1:
        raise RDropConfigError(
            f"--reg-every must be >= 1 (got {options.reg_every}); 1 applies R-Drop on every update"
        )
    rates = DropoutRates.parse(options.reg_dropouts)
    if rates is not None and copies != 2:
        raise RDropConfigError("--reg-dropouts gives one rate per sub-model and needs --reg-passes 2")
    check_cutoff(
        options.reg_cutoff_type, options.reg_cutoff_rate, rates is not None, options.reg_cutoff_decoder
    )
    if str(options.reg_task_loss) not in TASK_LOSS_COPIES:
        raise RDropConfigError(
            f"--reg-task-loss must be one of {', '.join(TASK_LOSS_COPIES)} (got {options.reg_task_loss})"
        )
    return rates


def task_copies(options: RDropOptions) -> int:
    """How many leading copies carry the task loss: all of them, or the first."""
    return 1 if str(options.reg_task_loss) == FIRST_COPY else int(options.reg_passes)


def check_cutoff(kind, rate, two_passes, decoder=False) -> None:
    kind = str(kind)
    if kind != NONE and rate is None:
        raise RDropConfigError(
            f"--reg-cutoff-type {kind} needs --reg-cutoff-rate P in [0, 1) (0.05 in SimCut and Cutoff's NMT runs)"
        )
    if decoder and (kind == NONE or not rate):
        raise RDropConfigError(
            "--reg-cutoff-decoder cuts with --reg-cutoff-type and --reg-cutoff-rate; set both "
            "(SimCut: token, 0.05) or drop --reg-cutoff-decoder"
        )
    if rate is None:
        return
    if not (isinstance(rate, (int, float)) and math.isfinite(rate) and 0 <= rate < 1):
        raise RDropConfigError(f"--reg-cutoff-rate must be in [0, 1) (got {rate}); e.g. 0.05")
    if kind == NONE and rate > 0:
        raise RDropConfigError(
            f"--reg-cutoff-rate {rate} cuts nothing without --reg-cutoff-type token|span|dimension"
        )
    if kind != NONE and rate > 0 and two_passes:
        # the cut copy is told apart from the clean one by its rows in the one
        # concatenated batch; --reg-dropouts runs two separate passes instead
        raise RDropConfigError(
            "--reg-cutoff-type works in the one concatenated forward; drop --reg-dropouts to use it"
        )
