"""The fused head (hand-written backward, chunked, fp32 inside) against an
independent autograd computation: explicit log-softmax, fairseq's label
smoothing formula written out, and F.kl_div for the divergence."""

import pytest
import torch
import torch.nn.functional as F
from conftest import mean_pair_kl

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
        return F.kl_div(F.log_softmax(per_copy[j], -1), F.softmax(per_copy[i], -1), reduction="none").sum(-1)

    div = mean_pair_kl(kl, copies, direction)
    div = (div * target.ne(PAD).double()).sum()
    return ls, nll.sum(), div


def example(copies, n=13, vocab=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(copies * n, vocab, generator=g) * 3
    target = torch.randint(2, vocab, (n,), generator=g)
    target[[1, 5, 12]] = PAD  # padding positions must contribute exactly nothing
    return logits, target


CASES = [(2, "bidirectional"), (3, "bidirectional"), (4, "bidirectional"), (2, "unidirectional")]


@pytest.mark.parametrize("copies,direction", CASES)
@pytest.mark.parametrize("chunk", [1 << 22, 40])  # one chunk, and many chunks of 1 row
@pytest.mark.parametrize("task_copies", [None, 1])  # NLL on every copy (R-Drop), on the first (SimCut)
def test_values_and_gradients_match_independent_computation(copies, direction, chunk, task_copies):
    logits, target = example(copies)
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
    assert torch.count_nonzero(z1.grad[padded]) == 0


def test_divergence_positive_and_zero_for_identical_copies():
    logits, target = example(1)
    same = torch.cat([logits, logits])
    _, _, div = fused_rdrop_loss(same, target, 2, 0.1, PAD)
    assert div.item() == 0.0
    _, _, div = fused_rdrop_loss(torch.cat([logits, logits.flip(0)]), target, 2, 0.1, PAD)
    assert div.item() > 0.0


def test_caller_logits_untouched():
    logits, target = example(2)
    before = logits.clone()
    z = logits.requires_grad_()
    sum(fused_rdrop_loss(z, target, 2, 0.1, PAD)).backward()
    assert torch.equal(logits.detach(), before)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_logits_give_the_fp32_loss(dtype):
    logits, target = example(2, n=32, vocab=50)
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


def test_shape_mismatch_is_a_clear_error():
    logits, target = example(2)
    with pytest.raises(ValueError, match="expected logits of shape"):
        fused_rdrop_loss(logits, target, 3, 0.1, PAD)
