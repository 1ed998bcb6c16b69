"""``--reg-cutoff-type/--reg-cutoff-rate``: Cutoff on the source embeddings of
the copies after the first, inside R-Drop's one forward pass, without forking
a fairseq model.

For the duration of one model call a forward hook sits on the encoder's
token embedding and zeroes the drawn entries (``cutoff.py``) of the output of
the ONE call whose input is this forward's own ``src_tokens`` tensor: with
``--share-all-embeddings`` the same Embedding also embeds the decoder's
``prev_output_tokens``, which must stay untouched. The hook is removed when
the call ends, whatever happens, so validation and generation never see it.
"""

from contextlib import contextmanager
from typing import Optional, Tuple

import torch

from ..cutoff import NONE, apply_cutoff, draw_cutoff
from ..errors import RDropConfigError

# where the source token embedding lives: transformer, bart (encoder.embed_tokens);
# roberta-style encoders (encoder.sentence_encoder.embed_tokens)
EMBEDDING_PATHS = (("encoder", "embed_tokens"), ("encoder", "sentence_encoder", "embed_tokens"))


def source_embedding(model) -> torch.nn.Module:
    for path in EMBEDDING_PATHS:
        module = model
        for name in path:
            module = getattr(module, name, None)
        if isinstance(module, torch.nn.Module):
            return module
    arch = type(getattr(model, "module", model)).__name__
    raise RDropConfigError(
        f"--reg-cutoff-type cuts the source embeddings (encoder.embed_tokens), which {arch} does not "
        "have; use it with an encoder-decoder model (--arch transformer*, bart*) or set --reg-cutoff-type none"
    )


class InputCutoff:
    def __init__(self, kind: str, rate: float, copies: int, pad: int, protected: Tuple[int, ...] = ()):
        self.kind = str(kind)
        self.rate = float(rate)
        self.copies = int(copies)
        self.pad = int(pad)
        self.protected = tuple(int(i) for i in protected)
        self.last_cut: Optional[torch.Tensor] = None  # the mask of the latest forward (tests, debugging)

    @classmethod
    def for_task(cls, task, kind, rate, copies, fallback_pad):
        source = getattr(task, "source_dictionary", None)
        if source is None:
            return cls(kind, rate, copies, fallback_pad)
        return cls(kind, rate, copies, source.pad(), (source.bos(), source.eos()))

    @property
    def active(self) -> bool:
        # rate 0 installs nothing and draws nothing: exactly R-Drop, bit for bit
        return self.kind != NONE and self.rate > 0

    @contextmanager
    def applied(self, model, src_tokens: torch.Tensor):
        """Within the block, the model's embedding of ``src_tokens`` (this very
        tensor) comes out with the drawn entries of copies 1.. zeroed."""
        if not self.active:
            yield
            return
        embedding = source_embedding(model)
        calls = []

        def hook(module, inputs, output):
            if not inputs or inputs[0] is not src_tokens:
                return None
            cut = draw_cutoff(
                src_tokens, self.pad, self.rate, self.copies, self.kind, output.size(-1), self.protected
            )
            calls.append(cut)
            return apply_cutoff(output, cut)

        handle = embedding.register_forward_hook(hook)
        try:
            yield
        finally:
            handle.remove()
        if len(calls) != 1:
            raise RDropConfigError(
                f"--reg-cutoff-type: the source embedding saw this batch's src_tokens {len(calls)} times "
                f"in one forward ({type(getattr(model, 'module', model)).__name__} does not embed them once "
                "through encoder.embed_tokens); set --reg-cutoff-type none for this architecture"
            )
        self.last_cut = calls[0]
