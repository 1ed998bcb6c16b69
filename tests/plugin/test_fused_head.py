"""The fused head (hand-written backward, chunked, fp32 inside) against an
independent autograd computation: explicit log-softmax, fairseq's label
smoothing formula written out, and F.kl_div for the divergence. Every test
runs on the CPU and, where torch sees one, on CUDA (``device``, tests/conftest.py),
with the same assertions; the half-precision ones in fp16 and bf16."""

import pytest
import torch
import torch.nn.functional as F
from conftest import HALF_DTYPES, mean_pair_kl

from rdrop_fairseq.fused_head import fused_rdrop_loss

PAD = 1


def independent(logits, target, copies, eps, direction, task_copies=None):
    """Sums (label-smoothed NLL, NLL, divergence) the long way, in float64; the
    NLL terms of the first ``task_copies`` copies only when given."""
    z = logits.double()
    n, vocab = target.numel(), z.size(-1)
    lp = F.log_softmax(z, -1)
    tt = target.repeat(copies)
    keep = tt.ne(PAD).double()
    if task_copies is not None:
        keep[task_copies * n :] = 0.0
    nll = -lp.gather(-1, tt.unsqueeze(-1)).squeeze(-1) * keep
    smooth = -lp.sum(-1) * keep
    eps_i = eps / (vocab - 1)
    ls = ((1 - eps - eps_i) * nll + eps_i * smooth).sum()
    per_copy = z.view(copies, n, vocab)

    def kl(i, j):  # KL(Pi || Pj) per row
        lp_i, lp_j = F.log_softmax(per_copy[i], -1), F.log_softmax(per_copy[j], -1)
        return F.kl_div(lp_j, lp_i, reduction="none", log_target=True).sum(-1)

    div = mean_pair_kl(kl, copies, direction)
    div = (div * target.ne(PAD).double()).sum()
    return ls, nll.sum(), div


def example(copies, n=13, vocab=17, seed=0, device="cpu"):
    """Drawn on the CPU, so every device sees the same numbers."""
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(copies * n, vocab, generator=g) * 3
    target = torch.randint(2, vocab, (n,), generator=g)
    target[[1, 5, 12]] = PAD  # padding positions must contribute exactly nothing
    return logits.to(device), target.to(device)


CASES = [(2, "bidirectional"), (3, "bidirectional"), (4, "bidirectional"), (2, "unidirectional")]


@pytest.mark.parametrize("copies,direction", CASES)
@pytest.mark.parametrize("chunk", [1 << 22, 40])  # one chunk, and many chunks of 1 row
@pytest.mark.parametrize("task_copies", [None, 1])  # NLL on every copy (R-Drop), on the first (SimCut)
def test_values_and_gradients_match_independent_computation(copies, direction, chunk, task_copies, device):
    logits, target = example(copies, device=device)
    weights = (0.7, 0.3, 5.0)  # distinct weights so each output's gradient is checked
    z1 = logits.clone().requires_grad_()
    got = fused_rdrop_loss(
        z1, target, copies, 0.1, PAD, direction, chunk_elements=chunk, task_copies=task_copies
    )
    sum(w * g for w, g in zip(weights, got)).backward()
    z2 = logits.clone().double().requires_grad_()
    want = independent(z2, target, copies, 0.1, direction, task_copies)
    sum(w * g for w, g in zip(weights, want)).backward()
    for g, w in zip(got, want):
        assert g.dtype == torch.float32
        assert torch.allclose(g.double(), w, rtol=1e-5, atol=1e-5), (g, w)
    assert torch.allclose(z1.grad.double(), z2.grad, rtol=1e-4, atol=1e-5)
    rows = torch.arange(copies * target.numel()) % target.numel()
    padded = torch.isin(rows, torch.tensor([1, 5, 12]))
    assert torch.count_nonzero(z1.grad.cpu()[padded]) == 0


def test_divergence_positive_and_zero_for_identical_copies(device):
    logits, target = example(1, device=device)
    same = torch.cat([logits, logits])
    _, _, div = fused_rdrop_loss(same, target, 2, 0.1, PAD)
    assert div.item() == 0.0
    _, _, div = fused_rdrop_loss(torch.cat([logits, logits.flip(0)]), target, 2, 0.1, PAD)
    assert div.item() > 0.0


def test_caller_logits_untouched(device):
    logits, target = example(2, device=device)
    before = logits.clone()
    z = logits.requires_grad_()
    sum(fused_rdrop_loss(z, target, 2, 0.1, PAD)).backward()
    assert torch.equal(logits.detach(), before)


@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_half_precision_logits_give_the_fp32_loss(dtype, device):
    logits, target = example(2, n=32, vocab=50, device=device)
    low = logits.to(dtype)
    ref = fused_rdrop_loss(low.float(), target, 2, 0.1, PAD)  # same rounded inputs in fp32
    z = low.clone().requires_grad_()
    got = fused_rdrop_loss(z, target, 2, 0.1, PAD)
    for g, r in zip(got, ref):
        assert g.dtype == torch.float32
        assert torch.allclose(g, r, rtol=1e-5, atol=1e-4)
    sum(got).backward()
    assert z.grad.dtype == dtype
    zf = low.float().requires_grad_()
    sum(fused_rdrop_loss(zf, target, 2, 0.1, PAD)).backward()
    assert torch.allclose(z.grad.float(), zf.grad, atol=1e-2 if dtype == torch.bfloat16 else 2e-3)


def half_tolerance(dtype, grad):
    """Three units in the last place of the half-precision gradient's largest entry: the
    fused head rounds its fp32 gradient once into the logits' dtype."""
    return 3 * torch.finfo(dtype).eps * grad.abs().max().item()


@pytest.mark.parametrize("copies", [2, 3])  # the two-copy and the many-copy head
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_autocast_loss_and_gradients_match_the_fp64_reference(copies, dtype, device):
    """Logits from an output projection under autocast (how fairseq --amp and most
    training loops make them): half-precision logits, an fp32 loss equal to the fp64
    reference on the same rounded logits, and their gradient within rounding."""
    logits, target = example(copies, vocab=50, device=device)
    weight = torch.randn(50, 8, generator=torch.Generator().manual_seed(1)).to(device)
    hidden = (logits[:, :8] / 3).requires_grad_()
    with torch.autocast(device.type, dtype=dtype):
        projected = F.linear(hidden, weight)
        projected.retain_grad()
        got = fused_rdrop_loss(projected, target, copies, 0.1, PAD)
    assert projected.dtype == dtype
    sum(got).backward()
    ref = projected.detach().double().requires_grad_()
    want = independent(ref, target, copies, 0.1, "bidirectional")
    sum(want).backward()
    for g, w in zip(got, want):
        assert g.dtype == torch.float32
        assert torch.allclose(g.double(), w, rtol=1e-5, atol=1e-4), (g, w)
    assert projected.grad.dtype == dtype
    tol = half_tolerance(dtype, ref.grad)
    assert torch.allclose(projected.grad.double(), ref.grad, rtol=0, atol=tol)
    assert hidden.grad is not None and torch.isfinite(hidden.grad).all()


@pytest.mark.parametrize("copies", [2, 3])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_extreme_logits_stay_finite_where_a_half_precision_loss_overflows(copies, dtype, device):
    """Logits at fp16's largest magnitude (6e4; where an fp16 run's output projection can
    go): the head computes in fp32, so the loss is the fp64 reference's and finite, while
    the same loss computed in fp16 overflows to inf (log-probabilities of -1e5 have no
    fp16 value). bf16 has fp32's range: there the plain loss stays finite too."""
    logits, target = example(copies, vocab=50, device=device)
    extreme = (logits / logits.abs().max() * 6e4).to(dtype)
    z = extreme.clone().requires_grad_()
    got = fused_rdrop_loss(z, target, copies, 0.1, PAD)
    sum(got).backward()
    ref = extreme.double().requires_grad_()
    want = independent(ref, target, copies, 0.1, "bidirectional")
    sum(want).backward()
    for g, w in zip(got, want):
        assert torch.isfinite(g) and g.item() > 1e4
        assert torch.allclose(g.double(), w, rtol=1e-6), (g, w)
    assert torch.isfinite(z.grad).all()
    assert torch.allclose(z.grad.double(), ref.grad, rtol=0, atol=half_tolerance(dtype, ref.grad))
    plain = F.cross_entropy(extreme, target.repeat(copies), ignore_index=PAD, reduction="sum")
    assert torch.isinf(plain) if dtype == torch.float16 else torch.isfinite(plain)


def test_overflowed_logits_give_a_non_finite_loss(device):
    """Logits that already overflowed (inf, from an fp16 projection) are not hidden:
    the loss and its gradient come out non-finite, which is what fairseq's fp16 loss
    scaler watches for to skip the update and lower the scale."""
    logits, target = example(2, device=device)
    broken = logits.to(torch.float16)
    broken[3, 4] = float("inf")
    z = broken.clone().requires_grad_()
    ls, nll, div = fused_rdrop_loss(z, target, 2, 0.1, PAD)
    assert not torch.isfinite(ls + 5 * div)
    (ls + 5 * div).backward()
    assert not torch.isfinite(z.grad).all()


def test_shape_mismatch_is_a_clear_error():
    logits, target = example(2)
    with pytest.raises(ValueError, match="expected logits of shape"):
        fused_rdrop_loss(logits, target, 3, 0.1, PAD)
