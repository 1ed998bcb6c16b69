"""R-Drop's loss head fused over the logits: label-smoothed NLL of every copy
plus the consistency divergence, with a hand-written backward.

Why a custom autograd function: composed from autograd ops, the head keeps an
fp32 log-softmax of the ``[m*N, V]`` logits for backward, plus a softmax copy
and one or two ``[N, V]`` products for the KL term. At WMT sizes each of those
is about 1 GiB, and together they, not the doubled forward pass, set the
largest batch that fits. Here forward and backward walk over row chunks,
keep only the per-row log-sum-exp between them, and recompute the
probabilities of one chunk at a time in fp32, whatever the logits' dtype.
Extra memory is O(chunk) besides the gradient that autograd needs anyway.

Gradients (p = softmax(z), l = log p, one row, q the label-smoothed target
distribution (1−ε−ε_i)·onehot + ε_i):

* label-smoothed NLL:  p − q          (because (1−ε−ε_i) + ε_i·V = 1)
* plain NLL:           p − onehot
* Σ_{i≠j} KL(Pi‖Pj) w.r.t. copy k:  p_k ⊙ (g_k − E_{p_k}[g_k]) + m·p_k − Σ_i p_i,
  with g_k = m·l_k − Σ_i l_i
* KL(P1‖P2): copy 1 gets p_1 ⊙ (d − E_{p_1}[d]) with d = l_1 − l_2, copy 2 gets p_2 − p_1

The pure-autograd reference for all of this is ``consistency.py`` plus the
label-smoothed NLL; ``tests/test_fused_head.py`` holds the two together.
"""

from typing import Optional, Tuple

import torch

from .consistency import BIDIRECTIONAL, UNIDIRECTIONAL, check_copies

# fp32 elements of one [copies, rows, V] working chunk: ~16 MiB per temporary,
# small against any real batch, large enough to keep the kernels busy.
DEFAULT_CHUNK_ELEMENTS = 1 << 22


def _rows_per_chunk(copies: int, vocab: int, chunk_elements: int) -> int:
    return max(1, chunk_elements // (copies * vocab))


class _FusedRDropHead(torch.autograd.Function):
    @staticmethod
    def forward(ctx, logits, target, copies, epsilon, ignore_index, direction, chunk_elements):
        ctx.set_materialize_grads(False)
        vocab = logits.size(-1)
        n = target.numel()
        stacked = logits.view(copies, n, vocab)
        valid = target.ne(ignore_index) if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
        safe_target = target.masked_fill(~valid, 0)
        weight = valid.to(torch.float32)
        eps_i = epsilon / (vocab - 1)

        lse = torch.empty(copies, n, dtype=torch.float32, device=logits.device)
        nll_sum = torch.zeros((), dtype=torch.float32, device=logits.device)
        smooth_sum = torch.zeros_like(nll_sum)
        div_sum = torch.zeros_like(nll_sum)
        step = _rows_per_chunk(copies, vocab, chunk_elements)
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            z = stacked[:, r0:r1].float()
            chunk_lse = torch.logsumexp(z, dim=-1, keepdim=True)
            lse[:, r0:r1] = chunk_lse.squeeze(-1)
            # out of place: for fp32 logits ``z`` is a view of the caller's tensor
            lp = z - chunk_lse
            w = weight[r0:r1]
            idx = safe_target[r0:r1].view(1, -1, 1).expand(copies, -1, 1)
            nll_sum -= (lp.gather(-1, idx).squeeze(-1) * w).sum()
            smooth_sum -= (lp.sum(-1) * w).sum()
            p = lp.exp()
            if direction == UNIDIRECTIONAL:
                div = (p[0] * (lp[0] - lp[1])).sum(-1)
            else:
                cp = p - p.mean(0, keepdim=True)
                cl = lp - lp.mean(0, keepdim=True)
                div = (cp * cl).sum(-1).sum(0) * (copies / (copies * (copies - 1)))
            div_sum += (div * w).sum()

        ls_sum = (1.0 - epsilon - eps_i) * nll_sum + eps_i * smooth_sum
        ctx.save_for_backward(logits, safe_target, weight, lse)
        ctx.config = (copies, epsilon, direction, chunk_elements)
        return ls_sum, nll_sum, div_sum

    @staticmethod
    def backward(ctx, g_ls, g_nll, g_div):
        logits, safe_target, weight, lse = ctx.saved_tensors
        copies, epsilon, direction, chunk_elements = ctx.config
        vocab = logits.size(-1)
        n = safe_target.numel()
        eps_i = epsilon / (vocab - 1)
        zero = torch.zeros((), dtype=torch.float32, device=logits.device)
        g_ls = zero if g_ls is None else g_ls.float()
        g_nll = zero if g_nll is None else g_nll.float()
        stacked = logits.view(copies, n, vocab)
        grad = torch.empty_like(logits)
        grad_stacked = grad.view(copies, n, vocab)
        # d/dz of (a·LS + b·NLL) = (a+b)·p − (a·(1−ε−ε_i) + b)·onehot − a·ε_i
        prob_coef = g_ls + g_nll
        onehot_coef = g_ls * (1.0 - epsilon - eps_i) + g_nll
        uniform_coef = g_ls * eps_i
        step = _rows_per_chunk(copies, vocab, chunk_elements)
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            lp = stacked[:, r0:r1].float() - lse[:, r0:r1].unsqueeze(-1)
            p = lp.exp()
            gz = p * prob_coef - uniform_coef
            idx = safe_target[r0:r1].view(1, -1, 1).expand(copies, -1, 1)
            gz.scatter_add_(-1, idx, (-onehot_coef).expand(idx.shape).contiguous())
            if g_div is not None:
                gz += _divergence_grad(p, lp, copies, direction) * g_div
            gz.mul_(weight[r0:r1].view(1, -1, 1))
            grad_stacked[:, r0:r1] = gz
        return grad, None, None, None, None, None, None


def _divergence_grad(p, lp, copies, direction):
    if direction == UNIDIRECTIONAL:
        d = lp[0] - lp[1]
        first = p[0] * (d - (p[0] * d).sum(-1, keepdim=True))
        return torch.stack((first, p[1] - p[0]))
    g = copies * lp - lp.sum(0, keepdim=True)
    out = p * (g - (p * g).sum(-1, keepdim=True)) + copies * p - p.sum(0, keepdim=True)
    return out / (copies * (copies - 1))


def fused_rdrop_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    copies: int,
    epsilon: float,
    ignore_index: Optional[int],
    direction: str = BIDIRECTIONAL,
    chunk_elements: int = DEFAULT_CHUNK_ELEMENTS,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sums over non-padding positions of all copies, in fp32.

    ``logits``: ``[copies*N, V]`` (any float dtype, copy c in rows c*N..);
    ``target``: ``[N]``. Returns ``(label_smoothed_nll, nll, divergence)``:
    the first two summed over copies and positions, the last summed over
    positions (see ``consistency.consistency_divergence`` for what it is).
    """
    check_copies(copies, direction)
    if logits.dim() != 2 or logits.size(0) != copies * target.numel():
        raise ValueError(
            f"expected logits of shape [{copies}*{target.numel()}, V], got {tuple(logits.shape)}"
        )
    return _FusedRDropHead.apply(
        logits, target.reshape(-1), copies, float(epsilon), ignore_index, direction, chunk_elements
    )
