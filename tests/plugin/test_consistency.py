"""The reference divergences against textbook definitions (explicit softmax,
torch.nn.functional.kl_div, an O(m^2) double loop)."""

import itertools

import pytest
import torch
import torch.nn.functional as F

from rdrop_fairseq.consistency import (
    consistency_divergence,
    kl_divergence,
    pairwise_kl_sum,
    symmetric_kl,
)


def kl_textbook(logits_p, logits_q):
    # KL(P||Q) with kl_div's convention: input = log Q, target = P
    return F.kl_div(F.log_softmax(logits_q, -1), F.softmax(logits_p, -1), reduction="none").sum(-1)


@pytest.fixture
def logits():
    torch.manual_seed(0)
    return torch.randn(3, 5, 9, dtype=torch.float64)


def test_kl_and_symmetric_kl_match_kl_div(logits):
    lp = F.log_softmax(logits, -1)
    assert torch.allclose(kl_divergence(lp[0], lp[1]), kl_textbook(logits[0], logits[1]))
    both = kl_textbook(logits[0], logits[1]) + kl_textbook(logits[1], logits[0])
    assert torch.allclose(symmetric_kl(lp[0], lp[1]), both)
    assert (both > 0).all()


def test_pairwise_sum_matches_double_loop(logits):
    lp = F.log_softmax(logits, -1)
    expected = sum(kl_textbook(logits[i], logits[j]) for i, j in itertools.permutations(range(3), 2))
    assert torch.allclose(pairwise_kl_sum(lp), expected)


def test_divergence_variants_and_padding(logits):
    lp = F.log_softmax(logits, -1)
    mask = torch.tensor([True, False, True, True, False])
    two = lp[:2].reshape(10, 9)
    bi = consistency_divergence(two, 2, "bidirectional", mask)
    expected = 0.5 * (kl_textbook(logits[0], logits[1]) + kl_textbook(logits[1], logits[0]))
    assert torch.allclose(bi, expected * mask)
    assert bi[1] == 0 and bi[4] == 0
    uni = consistency_divergence(two, 2, "unidirectional", mask)
    assert torch.allclose(uni, kl_textbook(logits[0], logits[1]) * mask)
    three = consistency_divergence(lp.reshape(15, 9), 3, "bidirectional", mask)
    pairs = sum(kl_textbook(logits[i], logits[j]) for i, j in itertools.permutations(range(3), 2))
    assert torch.allclose(three, pairs / 6 * mask)


def test_identical_copies_have_zero_divergence(logits):
    lp = F.log_softmax(logits[0], -1)
    assert torch.equal(consistency_divergence(torch.cat([lp, lp]), 2), torch.zeros(5, dtype=lp.dtype))


@pytest.mark.parametrize("copies,direction", [(1, "bidirectional"), (3, "unidirectional"), (2, "sideways")])
def test_undefined_configurations_raise(copies, direction):
    with pytest.raises(ValueError):
        consistency_divergence(torch.zeros(copies * 2, 4), copies, direction)
