"""R-Drop's loss for an adaptive-softmax output layer, exact, without a
full-vocabulary tensor. Pure PyTorch, no fairseq.

An adaptive softmax (Grave et al. 2017) factorises p(v) = p_head(v) for the
``shortlist`` most frequent words, and p(v) = p_head(c)·p_tail_c(v) for a word
v in tail cluster c. The KL between two sub-models factorises the same way,

    KL(P‖Q) = KL(head_P‖head_Q) + Σ_c p_head(c)·KL(tail_c,P‖tail_c,Q),

so it is computed one cluster at a time for every row. (The official R-Drop
code compares tails only on the target's cluster, an approximation; fairseq's
own training path computes each tail only for the rows whose target lies in
it, which is why the NLL alone never needs all tails.) The label-smoothing sum
Σ_v −log p(v) factorises too: Σ_{v<shortlist} −log h(v) + Σ_c [−|V_c|·log h(c)
− Σ_{v∈c} log t_c(v)].

Layout as in ``consistency.py``: ``copies`` stacked along dim 0, copy k in
rows k·N .. (k+1)·N.
"""

from typing import Callable, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

from .consistency import UNIDIRECTIONAL, check_copies, consistency_divergence, kl_divergence, task_copy_mask

# rows per chunk x the largest cluster: bounds the fp32 [copies, rows, V_c] block
_CHUNK_ELEMENTS = 1 << 22


def nll_and_smooth(
    head_lp: torch.Tensor, tail_lps: Sequence[torch.Tensor], target: torch.Tensor, cutoff: Sequence[int]
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per row: −log p(target) and Σ_v −log p(v) over the whole vocabulary.

    ``head_lp``: ``[R, shortlist + clusters]``; ``tail_lps[c]``: ``[R, V_c]``;
    ``target``: ``[R]`` (any value at padding rows); ``cutoff``: the cluster
    boundaries ending with the vocabulary size, as fairseq's AdaptiveSoftmax holds them.
    """
    shortlist = cutoff[0]
    head_target = target.clone()
    nll = torch.zeros_like(head_lp[:, 0])
    smooth = -head_lp[:, :shortlist].sum(-1)
    for c, tail_lp in enumerate(tail_lps):
        lo, hi = cutoff[c], cutoff[c + 1]
        in_cluster = target.ge(lo) & target.lt(hi)
        head_target[in_cluster] = shortlist + c
        tail_target = (target - lo).clamp(0, hi - lo - 1).unsqueeze(-1)
        nll = nll - tail_lp.gather(-1, tail_target).squeeze(-1) * in_cluster
        smooth = smooth - (hi - lo) * head_lp[:, shortlist + c] - tail_lp.sum(-1)
    nll = nll - head_lp.gather(-1, head_target.unsqueeze(-1)).squeeze(-1)
    return nll, smooth


def factorised_divergence(
    head_lp: torch.Tensor, tail_lps: Sequence[torch.Tensor], shortlist: int, copies: int, direction: str
) -> torch.Tensor:
    """Per position, the divergence alpha multiplies (same definition as
    ``consistency.consistency_divergence`` on the full distributions)."""
    check_copies(copies, direction)
    divergence = consistency_divergence(head_lp, copies, direction)
    for c, tail_lp in enumerate(tail_lps):
        weight = head_lp[:, shortlist + c].exp().view(copies, -1)
        tails = tail_lp.view(copies, -1, tail_lp.size(-1))
        if direction == UNIDIRECTIONAL:
            divergence = divergence + weight[0] * kl_divergence(tails[0], tails[1])
        else:
            # Σ_{i≠j} h_i·KL(t_i‖t_j) = Σ_i h_i Σ_v t_i·(m·l_i − Σ_j l_j): O(m), the i = j terms vanish
            spread = copies * tails - tails.sum(0, keepdim=True)
            pairs = (weight * (tails.exp() * spread).sum(-1)).sum(0)
            divergence = divergence + pairs / (copies * (copies - 1))
    return divergence


def adaptive_rdrop_loss(
    hidden: torch.Tensor,
    target: torch.Tensor,
    head: Callable[[torch.Tensor], torch.Tensor],
    tails: List[Callable[[torch.Tensor], torch.Tensor]],
    cutoff: Sequence[int],
    copies: int,
    epsilon: float,
    ignore_index: int,
    direction: str,
    task_copies: Optional[int] = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(label_smoothed_nll, nll, divergence)`` sums, as ``fused_head.fused_rdrop_loss``
    (the first two over the first ``task_copies`` copies, all by default).

    ``hidden``: ``[copies*N, d]``, the decoder features after the adaptive
    softmax's input dropout; ``target``: ``[N]``. ``copies = 1`` gives the
    plain (label-smoothed) loss and a zero divergence. Row chunks are
    checkpointed, so at most one chunk's ``[copies, rows, V_c]`` log-probs
    live at a time; the recomputation in backward replays the same dropout
    masks inside the tails (torch restores the RNG state).
    """
    task_copies = copies if task_copies is None else int(task_copies)
    vocab = cutoff[-1]
    eps_i = epsilon / (vocab - 1)
    n = target.numel()
    stacked = hidden.view(copies, n, -1)
    widest = max([cutoff[0] + len(tails)] + [cutoff[c + 1] - cutoff[c] for c in range(len(tails))])
    step = max(1, _CHUNK_ELEMENTS // (copies * widest))

    def chunk(x, t):
        flat = x.reshape(copies * t.numel(), -1)
        head_lp = F.log_softmax(_at_least_fp32(head(flat)), dim=-1)
        tail_lps = [F.log_softmax(_at_least_fp32(tail(flat)), dim=-1) for tail in tails]
        weight = t.ne(ignore_index).float()
        rows = t.repeat(copies)
        nll, smooth = nll_and_smooth(head_lp, tail_lps, rows, cutoff)
        task = (task_copy_mask(copies, task_copies, weight).view(copies, 1) * weight).reshape(-1)
        nll = nll * task
        ls = (1.0 - epsilon - eps_i) * nll + eps_i * smooth * task
        if copies > 1:
            div = (factorised_divergence(head_lp, tail_lps, cutoff[0], copies, direction) * weight).sum()
        else:
            div = ls.new_zeros(())
        return ls.sum(), nll.sum(), div

    totals = [0.0, 0.0, 0.0]
    for r0 in range(0, n, step):
        x, t = stacked[:, r0 : r0 + step], target[r0 : r0 + step]
        if torch.is_grad_enabled() and x.requires_grad:
            parts = checkpoint(chunk, x, t, use_reentrant=False)
        else:
            parts = chunk(x, t)
        totals = [total + part for total, part in zip(totals, parts)]
    return tuple(totals)


def _at_least_fp32(x: torch.Tensor) -> torch.Tensor:
    """fp16/bf16 logits become fp32 (as fused_head computes); fp32/fp64 stay."""
    return x if x.dtype in (torch.float32, torch.float64) else x.float()
