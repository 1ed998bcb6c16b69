"""Consistency divergences between dropout sub-models, from log-probabilities.

Pure PyTorch, no fairseq: this is the reference formulation that the fused
loss head (``fused_head.py``) is tested against, and the path the criterion
falls back to when it only has normalized probabilities (adaptive softmax).

Layout convention shared with the criterion: ``lprobs`` holds ``m`` copies of
the same ``N`` target positions stacked along dim 0, copy ``c`` in rows
``c*N .. (c+1)*N``, exactly what one forward pass over ``[x; x; ...]`` gives
after flattening batch and time.

Every divergence here is per position (a ``[N]`` tensor) and is the quantity
that R-Drop's alpha multiplies:

* bidirectional, m = 2: ½·[KL(P1‖P2) + KL(P2‖P1)]   (paper, Eq. 3)
* bidirectional, m ≥ 2: 1/(m(m−1)) · Σ_{i≠j} KL(Pi‖Pj)  (paper §4.3)
* unidirectional:      KL(P1‖P2), gradients flowing into both passes
"""

from typing import Optional

import torch

from .errors import RDropConfigError

BIDIRECTIONAL = "bidirectional"
UNIDIRECTIONAL = "unidirectional"
DIRECTIONS = (BIDIRECTIONAL, UNIDIRECTIONAL)


def kl_divergence(lprobs_p: torch.Tensor, lprobs_q: torch.Tensor) -> torch.Tensor:
    """KL(P‖Q) along the last dim, from log-probabilities."""
    return (lprobs_p.exp() * (lprobs_p - lprobs_q)).sum(-1)


def symmetric_kl(lprobs_p: torch.Tensor, lprobs_q: torch.Tensor) -> torch.Tensor:
    """KL(P‖Q) + KL(Q‖P) along the last dim.

    Uses Σ_v (p − q)(log p − log q): one pass over the vocabulary and no
    softmax copy next to the log-softmax.
    """
    return ((lprobs_p.exp() - lprobs_q.exp()) * (lprobs_p - lprobs_q)).sum(-1)


def pairwise_kl_sum(lprobs: torch.Tensor) -> torch.Tensor:
    """Σ_{i≠j} KL(Pi‖Pj) over the copies of ``lprobs`` shaped ``[m, N, V]``.

    Expanding the double sum gives Σ_i Σ_v p_i·(m·l_i − Σ_j l_j), which in
    centred form is m · Σ_i Σ_v (p_i − p̄)(l_i − l̄): O(m) passes over the
    vocabulary instead of O(m²), and no cancellation between large terms.
    """
    m = lprobs.size(0)
    probs = lprobs.exp()
    centred_p = probs - probs.mean(0, keepdim=True)
    centred_l = lprobs - lprobs.mean(0, keepdim=True)
    return m * (centred_p * centred_l).sum(-1).sum(0)


def check_copies(copies: int, direction: str) -> None:
    """The one place that says which (copies, direction) pairs exist; the
    messages name the flags, since a user's command line is where they come from."""
    if copies < 2:
        raise RDropConfigError(f"--reg-passes must be >= 2 (got {copies}); R-Drop compares sub-models")
    if direction not in DIRECTIONS:
        raise RDropConfigError(f"--reg-kl-direction must be one of {DIRECTIONS} (got {direction!r})")
    if direction == UNIDIRECTIONAL and copies != 2:
        raise RDropConfigError(
            f"--reg-kl-direction unidirectional is defined for two passes only; drop --reg-passes {copies} "
            "or use the bidirectional KL"
        )


def task_copy_mask(copies: int, task_copies: int, like: torch.Tensor) -> torch.Tensor:
    """``[copies]``: 1 for the leading ``task_copies`` copies, the ones that carry
    the task loss (all of them in R-Drop, the clean first one in SimCut), 0 for
    the others; in ``like``'s dtype and device. Multiplying by it is exact."""
    return (torch.arange(copies, device=like.device) < task_copies).to(like.dtype)


def consistency_divergence(
    lprobs: torch.Tensor,
    copies: int = 2,
    direction: str = BIDIRECTIONAL,
    mask: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """Per-position divergence that alpha multiplies (see module docstring).

    ``lprobs``: ``[copies*N, V]``; ``mask``: ``[N]`` bool, True where the
    position is a real target token. Masked positions contribute exactly 0.
    """
    check_copies(copies, direction)
    stacked = lprobs.view(copies, -1, lprobs.size(-1))
    if direction == UNIDIRECTIONAL:
        divergence = kl_divergence(stacked[0], stacked[1])
    elif copies == 2:
        divergence = 0.5 * symmetric_kl(stacked[0], stacked[1])
    else:
        divergence = pairwise_kl_sum(stacked) / (copies * (copies - 1))
    if mask is not None:
        divergence = divergence.masked_fill(~mask, 0.0)
    return divergence
