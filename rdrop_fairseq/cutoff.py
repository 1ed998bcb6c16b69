"""Cutoff (Shen et al. 2020, "A Simple but Tough-to-Beat Data Augmentation
Approach for Natural Language Understanding and Generation"): which source
embeddings the copies after the first lose, and how they lose them.

Pure torch. ``draw_cutoff`` draws a boolean ``cut`` mask for a batch of
``copies`` stacked copies (copy k in rows k*B .. (k+1)*B); ``apply_cutoff``
zeroes the cut entries of an embedding output ``[copies*B, T, D]``.

The rules every type keeps:

* copy 0 (rows 0 .. B-1) is never cut: it is the clean view the others are
  pulled towards;
* padding and the protected symbols (the criterion passes the dictionary's
  bos and eos) are never cut: a sentence keeps its boundaries, as in the
  Cutoff and SimCut NMT code, which never cut eos;
* a sentence never loses all of its real tokens (the non-padding,
  non-protected ones): if a draw would cut every one, one of them, picked
  at random, is kept; a sentence with one real token is never cut.

Types (``rate`` = p):

* ``token``: every real token is cut independently with probability p
  (Bernoulli, as SimCut and the Cutoff NMT code draw it); its whole
  embedding vector is zeroed;
* ``span``: one contiguous run of a sentence's n real tokens is cut, of
  length floor(p*n + u) with u ~ U[0, 1) (stochastic rounding, so the
  expected cut fraction is exactly p even where p*n < 1), at most n-1,
  starting at a uniformly drawn offset;
* ``dimension``: every embedding dimension is cut independently with
  probability p, per sentence (the same dimensions for all of a sentence's
  real tokens); at least one dimension always stays.

All randomness comes from torch's generator of the tokens' device (or the
``generator`` given), so a seeded run draws the same masks again.
"""

from typing import Iterable, Optional

import torch

NONE = "none"
TOKEN = "token"
SPAN = "span"
DIMENSION = "dimension"
CUTOFF_TYPES = (NONE, TOKEN, SPAN, DIMENSION)


def real_tokens(src_tokens: torch.Tensor, pad: int, protected: Iterable[int], copies: int) -> torch.Tensor:
    """[N, T] bool: the positions a cut may touch (never in copy 0)."""
    eligible = src_tokens.ne(pad)
    for index in protected:
        eligible &= src_tokens.ne(index)
    batch = src_tokens.size(0) // copies
    eligible[:batch] = False
    return eligible


def _keep_one(cut: torch.Tensor, eligible: torch.Tensor, generator) -> torch.Tensor:
    """Un-cut one randomly chosen eligible entry in every row whose eligible
    entries are all cut (rows with none eligible are left alone)."""
    everything = (cut | ~eligible).all(dim=1) & eligible.any(dim=1)
    scores = torch.rand(cut.shape, device=cut.device, generator=generator)
    chosen = scores.masked_fill(~eligible, -1.0).argmax(dim=1)
    rescue = torch.zeros_like(cut)
    rescue[torch.arange(cut.size(0), device=cut.device), chosen] = True
    return cut & ~(rescue & everything.unsqueeze(1))


def _token_cut(eligible, rate, generator):
    draw = torch.rand(eligible.shape, device=eligible.device, generator=generator) < rate
    return _keep_one(draw & eligible, eligible, generator)


def _span_cut(eligible, rate, generator):
    rows = eligible.size(0)
    n = eligible.sum(dim=1)
    u = torch.rand(rows, device=eligible.device, generator=generator)
    length = torch.floor(rate * n.to(u.dtype) + u).long()
    length = torch.minimum(length, (n - 1).clamp(min=0))
    room = (n - length + 1).to(u.dtype)
    start = torch.floor(torch.rand(rows, device=eligible.device, generator=generator) * room).long()
    start = torch.minimum(start, n - length)
    # rank of each real token among its sentence's real tokens; real tokens
    # are contiguous in fairseq's batches, so equal ranks make one span
    rank = eligible.long().cumsum(dim=1) - 1
    inside = (rank >= start.unsqueeze(1)) & (rank < (start + length).unsqueeze(1))
    return eligible & inside


def _dimension_cut(eligible, rate, embed_dim, generator):
    rows = eligible.size(0)
    dims = torch.ones(rows, embed_dim, dtype=torch.bool, device=eligible.device)
    draw = torch.rand(rows, embed_dim, device=eligible.device, generator=generator) < rate
    draw = _keep_one(draw, dims, generator)
    return eligible.unsqueeze(2) & draw.unsqueeze(1)


def draw_cutoff(
    src_tokens: torch.Tensor,
    pad: int,
    rate: float,
    copies: int,
    kind: str,
    embed_dim: Optional[int] = None,
    protected: Iterable[int] = (),
    generator: Optional[torch.Generator] = None,
) -> torch.Tensor:
    """The ``cut`` mask for ``src_tokens`` [copies*B, T]: bool, True where the
    embedding is zeroed; shape [copies*B, T, 1] for token and span cutoff,
    [copies*B, T, embed_dim] for dimension cutoff."""
    if src_tokens.size(0) % copies != 0:
        raise ValueError(f"{src_tokens.size(0)} rows are not {copies} stacked copies")
    eligible = real_tokens(src_tokens, pad, protected, copies)
    if kind == TOKEN:
        return _token_cut(eligible, rate, generator).unsqueeze(2)
    if kind == SPAN:
        return _span_cut(eligible, rate, generator).unsqueeze(2)
    if kind == DIMENSION:
        if embed_dim is None:
            raise ValueError("dimension cutoff needs embed_dim")
        return _dimension_cut(eligible, rate, embed_dim, generator)
    raise ValueError(f"unknown cutoff type {kind!r}; one of {', '.join(CUTOFF_TYPES[1:])}")


def apply_cutoff(embedding: torch.Tensor, cut: torch.Tensor) -> torch.Tensor:
    """``embedding`` [N, T, D] with the ``cut`` entries zeroed (out of place, so
    autograd gives the cut entries a zero gradient and the others one)."""
    return embedding.masked_fill(cut, 0.0)
