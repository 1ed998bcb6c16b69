"""The factorised adaptive-softmax loss against the full-vocabulary one: the
distributions are assembled by hand, p(v) = h(v) or h(c)·t_c(v), and fed to the
reference formulas (``consistency`` and fairseq's label smoothing). Every test runs on
the CPU and, where torch sees one, on CUDA (``device``, tests/conftest.py)."""

import pytest
import torch
import torch.nn.functional as F
from conftest import HALF_DTYPES, mean_pair_kl

from rdrop_fairseq.adaptive_softmax_loss import adaptive_rdrop_loss, factorised_divergence, nll_and_smooth
from rdrop_fairseq.consistency import consistency_divergence

CUTOFF = [5, 9, 16]  # shortlist 5, clusters of 4 and 7 words: V = 16
PAD = 1


def full_log_probs(head_lp, tail_lps, cutoff=CUTOFF):
    shortlist = cutoff[0]
    parts = [head_lp[:, :shortlist]]
    for c, tail_lp in enumerate(tail_lps):
        parts.append(head_lp[:, shortlist + c : shortlist + c + 1] + tail_lp)
    return torch.cat(parts, dim=-1)


def random_parts(rows, generator, cutoff=CUTOFF, device="cpu"):
    """Drawn on the CPU, so every device sees the same numbers."""
    head = torch.randn(rows, cutoff[0] + len(cutoff) - 1, generator=generator, dtype=torch.float64)
    tails = [
        torch.randn(rows, cutoff[c + 1] - cutoff[c], generator=generator, dtype=torch.float64)
        for c in range(len(cutoff) - 1)
    ]
    head, tails = head.to(device), [t.to(device) for t in tails]
    return F.log_softmax(head * 2, -1), [F.log_softmax(t * 2, -1) for t in tails]


@pytest.mark.parametrize(
    "copies,direction", [(2, "bidirectional"), (2, "unidirectional"), (3, "bidirectional")]
)
def test_factorised_divergence_equals_full_vocabulary(copies, direction, device):
    g = torch.Generator().manual_seed(copies)
    n = 7
    head_lp, tail_lps = random_parts(copies * n, g, device=device)
    full = full_log_probs(head_lp, tail_lps)
    assert torch.allclose(full.exp().sum(-1), torch.ones(copies * n, dtype=torch.float64, device=device))
    expected = consistency_divergence(full, copies, direction)
    got = factorised_divergence(head_lp, tail_lps, CUTOFF[0], copies, direction)
    assert torch.allclose(got, expected, atol=1e-12)
    # and against the definition, pair by pair, with F.kl_div
    lp = full.view(copies, n, -1)
    by_pairs = mean_pair_kl(
        lambda i, j: F.kl_div(lp[j], lp[i], log_target=True, reduction="none").sum(-1), copies, direction
    )
    assert torch.allclose(got, by_pairs)


def test_nll_and_smooth_equal_full_vocabulary(device):
    g = torch.Generator().manual_seed(0)
    head_lp, tail_lps = random_parts(16, g, device=device)
    full = full_log_probs(head_lp, tail_lps)
    target = torch.arange(16, device=device)  # every word once: shortlist and both clusters
    nll, smooth = nll_and_smooth(head_lp, tail_lps, target, CUTOFF)
    assert torch.allclose(nll, -full.gather(-1, target[:, None]).squeeze(-1))
    assert torch.allclose(smooth, -full.sum(-1))


class Adaptive(torch.nn.Module):
    """A tiny head and tails, as fairseq's AdaptiveSoftmax projects them."""

    def __init__(self, dim=6, cutoff=CUTOFF):
        super().__init__()
        self.head = torch.nn.Linear(dim, cutoff[0] + len(cutoff) - 1, bias=False)
        self.tail = torch.nn.ModuleList(
            torch.nn.Sequential(
                torch.nn.Linear(dim, 3, bias=False), torch.nn.Linear(3, cutoff[c + 1] - cutoff[c])
            )
            for c in range(len(cutoff) - 1)
        )

    def full_lprobs(self, x):
        return full_log_probs(F.log_softmax(self.head(x), -1), [F.log_softmax(t(x), -1) for t in self.tail])


@pytest.mark.parametrize(
    "copies,direction,eps,task_copies",
    [
        (2, "bidirectional", 0.0, None),
        (2, "unidirectional", 0.1, None),
        (3, "bidirectional", 0.1, None),
        (2, "unidirectional", 0.1, 1),  # SimCut: NLL on the first copy only
        (3, "bidirectional", 0.1, 1),
    ],
)
def test_loss_and_gradient_equal_full_vocabulary(copies, direction, eps, task_copies, device):
    torch.manual_seed(0)  # the module and the hidden states are drawn on the CPU, then moved
    module = Adaptive().double().to(device)
    n = 9
    target = torch.tensor([0, 4, 5, 8, 9, 15, PAD, 12, PAD], device=device)
    hidden = torch.randn(copies * n, 6, dtype=torch.float64).to(device).requires_grad_()
    ls, nll, div = adaptive_rdrop_loss(
        hidden, target, module.head, list(module.tail), CUTOFF, copies, eps, PAD, direction, task_copies
    )
    (ls + 5 * div).backward()
    got_grad = hidden.grad.clone()
    hidden.grad = None

    full = module.full_lprobs(hidden)
    keep = target.ne(PAD)
    rows = target.repeat(copies)
    task_rows = keep.repeat(copies)
    task_rows[(task_copies or copies) * n :] = False
    nll_rows = -full.gather(-1, rows[:, None]).squeeze(-1) * task_rows
    eps_i = eps / (CUTOFF[-1] - 1)
    ls_rows = (1 - eps - eps_i) * nll_rows - eps_i * full.sum(-1) * task_rows
    ref_div = consistency_divergence(full, copies, direction, keep).sum()
    (ls_rows.sum() + 5 * ref_div).backward()
    assert torch.allclose(ls, ls_rows.sum()) and torch.allclose(nll, nll_rows.sum())
    assert torch.allclose(div, ref_div)
    assert torch.allclose(got_grad, hidden.grad)
    assert got_grad.view(copies, n, -1)[:, ~keep].abs().max() == 0  # padding gets no gradient


def test_chunked_checkpointed_equals_one_chunk(monkeypatch, device):
    """Several checkpointed row chunks give the one-chunk loss and gradient."""
    import rdrop_fairseq.adaptive_softmax_loss as module_under_test

    torch.manual_seed(1)
    module = Adaptive().double().to(device)
    target = torch.randint(0, 16, (11,)).to(device)
    hidden = torch.randn(22, 6, dtype=torch.float64).to(device).requires_grad_()

    def run():
        hidden.grad = None
        parts = adaptive_rdrop_loss(
            hidden, target, module.head, list(module.tail), CUTOFF, 2, 0.1, PAD, "bidirectional"
        )
        sum(parts).backward()
        return torch.stack(parts).detach(), hidden.grad.clone()

    whole, whole_grad = run()
    monkeypatch.setattr(module_under_test, "_CHUNK_ELEMENTS", 2 * 9 * 3)  # 3 rows per chunk
    chunked, chunked_grad = run()
    assert torch.allclose(whole, chunked) and torch.allclose(whole_grad, chunked_grad)


def test_one_copy_is_the_plain_loss_with_zero_divergence(device):
    torch.manual_seed(2)
    module = Adaptive().double().to(device)
    target = torch.tensor([3, 7, 14, PAD], device=device)
    hidden = torch.randn(4, 6, dtype=torch.float64).to(device)
    ls, nll, div = adaptive_rdrop_loss(
        hidden, target, module.head, list(module.tail), CUTOFF, 1, 0.0, PAD, "bidirectional"
    )
    full = module.full_lprobs(hidden)
    expected = F.nll_loss(full, target, ignore_index=PAD, reduction="sum")
    assert torch.allclose(nll, expected) and torch.allclose(ls, expected) and div.item() == 0


@pytest.mark.parametrize("copies,direction", [(2, "bidirectional"), (3, "bidirectional")])
@pytest.mark.parametrize("dtype", HALF_DTYPES)
def test_autocast_loss_and_gradient_match_full_vocabulary(copies, direction, dtype, device):
    """Under autocast the head and tails project in half precision and the loss is taken
    in fp32 (as fairseq --amp runs it): equal to the fp64 full-vocabulary reference on the
    same half-precision projections, and the gradient reaching the hidden states to
    within the projections' rounding."""
    torch.manual_seed(3)
    module = Adaptive().to(device)
    n = 9
    target = torch.tensor([0, 4, 5, 8, 9, 15, PAD, 12, PAD], device=device)
    hidden = torch.randn(copies * n, 6).to(device).requires_grad_()
    with torch.autocast(device.type, dtype=dtype):
        assert module.head(hidden).dtype == dtype
        ls, nll, div = adaptive_rdrop_loss(
            hidden, target, module.head, list(module.tail), CUTOFF, copies, 0.1, PAD, direction
        )
    assert ls.dtype == nll.dtype == div.dtype == torch.float32
    (ls + 5 * div).backward()
    # the reference: the same module's half-precision projections of the same rows (the
    # same kernels, so the same rounded numbers), then fp64 from the log-softmax on
    x = hidden.detach().clone().requires_grad_()
    with torch.autocast(device.type, dtype=dtype):
        head_logits, tail_logits = module.head(x), [t(x) for t in module.tail]
    head_lp = F.log_softmax(head_logits.double(), -1)
    tail_lps = [F.log_softmax(t.double(), -1) for t in tail_logits]
    full = full_log_probs(head_lp, tail_lps)
    keep = target.ne(PAD)
    rows = target.repeat(copies)
    nll_rows = -full.gather(-1, rows[:, None]).squeeze(-1) * keep.repeat(copies)
    eps_i = 0.1 / (CUTOFF[-1] - 1)
    ref_ls = ((1 - 0.1 - eps_i) * nll_rows - eps_i * full.sum(-1) * keep.repeat(copies)).sum()
    ref_div = consistency_divergence(full, copies, direction, keep).sum()
    (ref_ls + 5 * ref_div).backward()
    for got, want in ((ls, ref_ls), (nll, nll_rows.sum()), (div, ref_div)):
        assert got.dtype == torch.float32
        assert torch.allclose(got.double(), want, rtol=1e-5, atol=1e-6), (got, want)
    # the fp32 loss gradient enters the projections' backward rounded to the half precision
    tol = 2 * torch.finfo(dtype).eps * x.grad.abs().max().item()
    assert torch.allclose(hidden.grad, x.grad, rtol=0, atol=tol)
