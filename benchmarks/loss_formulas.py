"""The R-Drop loss heads being compared, each as ``loss(logits, target) -> scalar``.

All four return the same number: label-smoothed NLL summed over both copies
and non-padding positions, plus alpha times ½·[KL(P1‖P2) + KL(P2‖P1)] summed
over non-padding positions. ``logits`` is ``[2N, V]`` (copy c in rows c*N..),
``target`` is ``[N]``.

* ``official``: the formula as the R-Drop paper's code states it, written out
  here: fp32 log-softmax AND fp32 softmax of all logits, two un-reduced
  ``F.kl_div`` tensors, masked, summed, halved, times alpha, plus LS-NLL.
* ``fairseq_builtin``: fairseq's own ``label_smoothed_cross_entropy_with_rdrop``
  math, by calling its module-level functions (not a copy of them).
* ``fused``: ``rdrop_fairseq.fused_head.fused_rdrop_loss``.
* ``reference``: our criterion's ``--reg-loss-impl reference`` path.
"""

import torch
import torch.nn.functional as F
from common import REPO_ROOT  # noqa: F401  (puts the repo on sys.path)

from rdrop_fairseq.consistency import consistency_divergence
from rdrop_fairseq.fused_head import fused_rdrop_loss

IMPLS = ("official", "fairseq_builtin", "fused", "reference")


def _ls_nll(lprobs, target2, epsilon, pad):
    """(label-smoothed NLL, NLL) sums, fairseq's convention eps_i = ε/(V−1)."""
    keep = target2.ne(pad)
    nll = -lprobs.gather(-1, target2.unsqueeze(-1)).squeeze(-1)
    smooth = -lprobs.sum(-1)
    eps_i = epsilon / (lprobs.size(-1) - 1)
    nll = nll.masked_fill(~keep, 0.0).sum()
    smooth = smooth.masked_fill(~keep, 0.0).sum()
    return (1.0 - epsilon - eps_i) * nll + eps_i * smooth, nll


def official_parts(logits, target, epsilon, pad):
    """(LS-NLL over both copies, NLL, ½·(KL + KL)) by the official formula."""
    lprobs = F.log_softmax(logits.float(), dim=-1)
    probs = F.softmax(logits.float(), dim=-1)
    lp1, lp2 = lprobs.chunk(2, dim=0)
    p1, p2 = probs.chunk(2, dim=0)
    # kl_div(input=log Q, target=P) is P·(log P − log Q): KL(P2‖P1) and KL(P1‖P2)
    kl_a = F.kl_div(lp1, p2, reduction="none")
    kl_b = F.kl_div(lp2, p1, reduction="none")
    pad_mask = target.eq(pad).unsqueeze(-1)
    kl_a = kl_a.masked_fill(pad_mask, 0.0)
    kl_b = kl_b.masked_fill(pad_mask, 0.0)
    kl = (kl_a.sum() + kl_b.sum()) / 2
    ls, nll = _ls_nll(lprobs, torch.cat([target, target]), epsilon, pad)
    return ls, nll, kl


def official_loss(logits, target, epsilon, alpha, pad):
    ls, _, kl = official_parts(logits, target, epsilon, pad)
    return ls + alpha * kl


class _DecoderShim:
    """What fairseq's R-Drop functions need from a model: its normalizer.

    fairseq's decoders return fp32 (log-)probabilities from half logits; this
    does the same through fairseq.utils so the built-in math is unchanged.
    """

    def get_normalized_probs(self, net_output, log_probs, sample=None):
        from fairseq import utils

        logits = net_output[0]
        return utils.log_softmax(logits, dim=-1) if log_probs else utils.softmax(logits, dim=-1)


_SHIM = _DecoderShim()


def fairseq_builtin_loss(logits, target, epsilon, alpha, pad):
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
    from fairseq.criterions.label_smoothed_cross_entropy_with_rdrop import compute_kl_loss

    net_output = (logits, None)
    lprobs = _SHIM.get_normalized_probs(net_output, log_probs=True)
    target2 = torch.cat([target, target.clone()], dim=0)
    loss, _ = label_smoothed_nll_loss(lprobs, target2, epsilon, ignore_index=pad)
    pad_mask = target.unsqueeze(-1).eq(pad)
    return loss + alpha * compute_kl_loss(_SHIM, net_output, pad_mask)


def fused_loss(logits, target, epsilon, alpha, pad):
    ls, _, div = fused_rdrop_loss(logits, target, 2, epsilon, pad)
    return ls + alpha * div


def reference_loss(logits, target, epsilon, alpha, pad):
    from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss

    lprobs = _SHIM.get_normalized_probs((logits, None), log_probs=True)
    ls, _ = label_smoothed_nll_loss(lprobs, target.repeat(2), epsilon, ignore_index=pad)
    div = consistency_divergence(lprobs.float(), 2, "bidirectional", target.ne(pad)).sum()
    return ls + alpha * div


LOSSES = {
    "official": official_loss,
    "fairseq_builtin": fairseq_builtin_loss,
    "fused": fused_loss,
    "reference": reference_loss,
}
