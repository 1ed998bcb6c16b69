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
* KL(P1‖P2) (two copies only): copy 1 gets p_1 ⊙ (d − E_{p_1}[d]) with d = l_1 − l_2,
  copy 2 gets p_2 − p_1

The pure-autograd reference for all of this is ``consistency.py`` plus the
label-smoothed NLL; ``tests/test_fused_head.py`` holds the two together.
"""

from typing import Optional, Tuple

import torch

from .consistency import BIDIRECTIONAL, UNIDIRECTIONAL, check_copies, task_copy_mask

# CPU: the chunk's handful of fp32 temporaries should stay in cache (each op
# then costs its arithmetic, not a trip to DRAM), yet each op must be large
# enough that the per-op overhead stays small: 4 MiB per temporary.
_CPU_CHUNK_ELEMENTS = 1 << 20
# GPU: kernels are launch-bound below a few million elements, so chunks are
# large; but never more than 1/8 of the batch, or at small sizes the chunk's
# temporaries would be as large as the un-chunked path this exists to avoid.
_GPU_CHUNK_MAX = 1 << 24
_GPU_CHUNK_MIN = 1 << 20


def default_chunk_elements(total: int, device: torch.device) -> int:
    if device.type == "cpu":
        return _CPU_CHUNK_ELEMENTS
    return max(_GPU_CHUNK_MIN, min(_GPU_CHUNK_MAX, total // 8))


def _rows_per_chunk(copies: int, vocab: int, chunk_elements: int) -> int:
    return max(1, chunk_elements // (copies * vocab))


def _fp32_block(block):
    """A contiguous fp32 copy of a ``[copies, rows, V]`` view of the logits.

    Always a copy: for fp32 logits the view is the caller's tensor, and
    contiguous lets every op below take the fast path over one dense block."""
    return block.to(torch.float32, memory_format=torch.contiguous_format, copy=True)


def _incoming_grads(device, *grads):
    """fp32 scalars for the outputs' incoming gradients; an unused output (None,
    since materialize_grads is off) contributes nothing."""
    zero = torch.zeros((), dtype=torch.float32, device=device)
    return tuple(zero if g is None else g.float() for g in grads)


def _row_weight(target, ignore_index):
    valid = target.ne(ignore_index) if ignore_index is not None else torch.ones_like(target, dtype=torch.bool)
    return target.masked_fill(~valid, 0), valid.to(torch.float32)


class _TwoCopyHead(torch.autograd.Function):
    """m = 2, either direction: the default R-Drop and the cheapest to fuse.

    With p = softmax(z), l = z − lse and d = z1 − z2 (raw logits), the
    divergence needs only a_k = Σ_v p_k·d per row: ½[KL(P1‖P2)+KL(P2‖P1)] =
    ½(a_1 − a_2), exactly, because the lse shift multiplies Σ(p1 − p2) = 0;
    KL(P1‖P2) = a_1 − (lse1 − lse2). In the gradients the shift cancels too,
    so backward needs neither log-probabilities nor lse: it recomputes the
    softmax (one fused kernel, cheaper than z − lse plus exp) and reads the
    per-row a_k saved by forward. lse itself comes from two row maxima,
    lse = max z − log max p (max p ≥ 1/V, so the log is well conditioned),
    and Σ_v l = Σ_v z − V·lse, so no [rows, V] log-probability is formed.
    """

    @staticmethod
    def forward(ctx, logits, target, epsilon, ignore_index, direction, chunk_elements, task_copies):
        ctx.set_materialize_grads(False)
        vocab = logits.size(-1)
        n = target.numel()
        halves = logits.view(2, n, vocab)
        safe_target, weight = _row_weight(target, ignore_index)
        f32 = dict(dtype=torch.float32, device=logits.device)
        lse = torch.empty(2, n, **f32)
        z_sum = torch.empty(2, n, **f32)
        z_target = torch.empty(2, n, **f32)
        dots = torch.empty(2, n, **f32)
        step = _rows_per_chunk(2, vocab, chunk_elements)
        for r0 in range(0, n, step):
            rows = slice(r0, min(n, r0 + step))
            # Both copies in one [2, rows, V] block: half as many ops as looping
            # over copies, which matters when cores are shared and every
            # parallel op may wait on a descheduled thread.
            z = _fp32_block(halves[:, rows])
            p = torch.softmax(z, dim=-1)
            torch.sub(z.amax(-1), p.amax(-1).log_(), out=lse[:, rows])
            torch.sum(z, -1, out=z_sum[:, rows])
            idx = safe_target[rows].view(1, -1, 1).expand(2, -1, 1)
            z_target[:, rows] = z.gather(-1, idx).squeeze(-1)
            torch.linalg.vecdot(p, torch.sub(z[0], z[1]), out=dots[:, rows])
            del z, p

        eps_i = epsilon / (vocab - 1)
        task = task_copy_mask(2, task_copies, weight).view(2, 1) * weight  # [2, n]: rows carrying the NLL
        nll_sum = ((lse - z_target) * task).sum()
        smooth_sum = ((lse * vocab - z_sum) * task).sum()
        ls_sum = (1.0 - epsilon - eps_i) * nll_sum + eps_i * smooth_sum
        if direction == UNIDIRECTIONAL:
            div_rows = dots[0] - (lse[0] - lse[1])
        else:
            div_rows = 0.5 * (dots[0] - dots[1])
        div_sum = (div_rows * weight).sum()
        ctx.save_for_backward(logits, safe_target, weight, dots)
        ctx.config = (epsilon, direction, chunk_elements, task_copies)
        return ls_sum, nll_sum, div_sum

    @staticmethod
    def backward(ctx, g_ls, g_nll, g_div):
        logits, safe_target, weight, dots = ctx.saved_tensors
        epsilon, direction, chunk_elements, task_copies = ctx.config
        vocab = logits.size(-1)
        n = safe_target.numel()
        eps_i = epsilon / (vocab - 1)
        g_ls, g_nll, g_div = _incoming_grads(logits.device, g_ls, g_nll, g_div)
        # Per row, with s = g_ls + g_nll, c the divergence's weight:
        #   bidirectional (c' = c/2):
        #     dz1 = p1⊙(s + c' − c'·a1 + c'·d) − c'·p2 − δ − o·onehot
        #     dz2 = p2⊙(s + c' + c'·a2 − c'·d) − c'·p1 − δ − o·onehot
        #   unidirectional:
        #     dz1 = p1⊙(s − c·a1 + c·d) − δ − o·onehot
        #     dz2 = p2⊙(s + c) − c·p1 − δ − o·onehot
        # δ = g_ls·ε_i, o = g_ls·(1−ε−ε_i) + g_nll; every term × the row's weight,
        # so padding rows come out exactly zero without a masking pass. With the
        # task loss on the first copy only, copy 2's s, δ and o are 0.
        w = weight.unsqueeze(-1)
        on = task_copy_mask(2, task_copies, weight)
        s = g_ls + g_nll
        s2 = s * on[1]
        shift = on.view(2, 1, 1) * ((g_ls * eps_i) * w)  # [2, n, 1]
        onehot = on.view(2, 1, 1) * (-(g_ls * (1.0 - epsilon - eps_i) + g_nll) * w)
        a = dots.unsqueeze(-1)
        if direction == UNIDIRECTIONAL:
            base = (s - g_div * a[0]) * w, (s2 + g_div) * w
            slope = g_div * w, torch.zeros_like(w)
            cross = None, -g_div * w
        else:
            half = 0.5 * g_div
            base = (s + half - half * a[0]) * w, (s2 + half + half * a[1]) * w
            slope = half * w, -half * w
            cross = -half * w, -half * w

        halves = logits.view(2, n, vocab)
        grad = torch.empty_like(logits)
        grad_halves = grad.view(2, n, vocab)
        base, slope = torch.stack(base), torch.stack(slope)
        step = _rows_per_chunk(2, vocab, chunk_elements)
        for r0 in range(0, n, step):
            rows = slice(r0, min(n, r0 + step))
            z = _fp32_block(halves[:, rows])
            p = torch.softmax(z, dim=-1)
            gz = torch.mul(torch.sub(z[0], z[1]), slope[:, rows])
            del z
            gz.add_(base[:, rows]).mul_(p)
            for k in (0, 1):
                if cross[k] is not None:
                    gz[k].addcmul_(p[1 - k], cross[k][rows])
            idx = safe_target[rows].view(1, -1, 1).expand(2, -1, 1)
            gz.scatter_add_(-1, idx, onehot[:, rows])
            torch.sub(gz, shift[:, rows], out=grad_halves[:, rows])
        return grad, None, None, None, None, None, None


class _ManyCopyHead(torch.autograd.Function):
    """Three or more copies, bidirectional only (the unidirectional KL is
    defined for two copies, which always take ``_TwoCopyHead``): the general,
    less tuned path."""

    @staticmethod
    def forward(ctx, logits, target, copies, epsilon, ignore_index, chunk_elements, task_copies):
        ctx.set_materialize_grads(False)
        vocab = logits.size(-1)
        n = target.numel()
        stacked = logits.view(copies, n, vocab)
        safe_target, weight = _row_weight(target, ignore_index)
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
            task = task_copy_mask(copies, task_copies, w).view(copies, 1) * w
            idx = safe_target[r0:r1].view(1, -1, 1).expand(copies, -1, 1)
            nll_sum -= (lp.gather(-1, idx).squeeze(-1) * task).sum()
            smooth_sum -= (lp.sum(-1) * task).sum()
            p = lp.exp()
            # the centred O(m) form of consistency.pairwise_kl_sum, times 1/(m(m-1))
            cp = p - p.mean(0, keepdim=True)
            cl = lp - lp.mean(0, keepdim=True)
            div = (cp * cl).sum(-1).sum(0) / (copies - 1)
            div_sum += (div * w).sum()

        ls_sum = (1.0 - epsilon - eps_i) * nll_sum + eps_i * smooth_sum
        ctx.save_for_backward(logits, safe_target, weight, lse)
        ctx.config = (copies, epsilon, chunk_elements, task_copies)
        return ls_sum, nll_sum, div_sum

    @staticmethod
    def backward(ctx, g_ls, g_nll, g_div):
        logits, safe_target, weight, lse = ctx.saved_tensors
        copies, epsilon, chunk_elements, task_copies = ctx.config
        vocab = logits.size(-1)
        n = safe_target.numel()
        eps_i = epsilon / (vocab - 1)
        g_ls, g_nll = _incoming_grads(logits.device, g_ls, g_nll)
        stacked = logits.view(copies, n, vocab)
        grad = torch.empty_like(logits)
        grad_stacked = grad.view(copies, n, vocab)
        # d/dz of (a·LS + b·NLL) = (a+b)·p − (a·(1−ε−ε_i) + b)·onehot − a·ε_i
        # per copy [copies, 1, 1]: the copies after task_copies carry no task loss
        on = task_copy_mask(copies, task_copies, weight).view(copies, 1, 1)
        prob_coef = (g_ls + g_nll) * on
        onehot_coef = (g_ls * (1.0 - epsilon - eps_i) + g_nll) * on
        uniform_coef = (g_ls * eps_i) * on
        step = _rows_per_chunk(copies, vocab, chunk_elements)
        for r0 in range(0, n, step):
            r1 = min(n, r0 + step)
            lp = stacked[:, r0:r1].float() - lse[:, r0:r1].unsqueeze(-1)
            p = lp.exp()
            gz = p * prob_coef - uniform_coef
            idx = safe_target[r0:r1].view(1, -1, 1).expand(copies, -1, 1)
            gz.scatter_add_(-1, idx, (-onehot_coef).expand(idx.shape).contiguous())
            if g_div is not None:
                gz += _pairwise_kl_grad(p, lp, copies) * g_div
            gz.mul_(weight[r0:r1].view(1, -1, 1))
            grad_stacked[:, r0:r1] = gz
        return grad, None, None, None, None, None, None


def _pairwise_kl_grad(p, lp, copies):
    """d/dz of 1/(m(m-1)) * sum_{i!=j} KL(Pi||Pj), for every copy at once."""
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
    chunk_elements: Optional[int] = None,
    task_copies: Optional[int] = None,
) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sums over non-padding positions of all copies, in fp32.

    ``logits``: ``[copies*N, V]`` (any float dtype, copy c in rows c*N..);
    ``target``: ``[N]``. Returns ``(label_smoothed_nll, nll, divergence)``:
    the first two summed over positions and the first ``task_copies`` copies
    (all of them by default; 1 for SimCut's NLL on the clean copy only), the
    last summed over positions (see ``consistency.consistency_divergence``).
    """
    check_copies(copies, direction)
    task_copies = copies if task_copies is None else int(task_copies)
    if not 1 <= task_copies <= copies:
        raise ValueError(f"task_copies must be in 1..{copies} (got {task_copies})")
    if logits.dim() != 2 or logits.size(0) != copies * target.numel():
        raise ValueError(
            f"expected logits of shape [{copies}*{target.numel()}, V], got {tuple(logits.shape)}"
        )
    target = target.reshape(-1)
    if chunk_elements is None:
        chunk_elements = default_chunk_elements(logits.numel(), logits.device)
    if copies == 2:
        return _TwoCopyHead.apply(
            logits, target, float(epsilon), ignore_index, direction, chunk_elements, task_copies
        )
    return _ManyCopyHead.apply(
        logits, target, copies, float(epsilon), ignore_index, chunk_elements, task_copies
    )
