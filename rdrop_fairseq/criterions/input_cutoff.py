"""``--reg-cutoff-type/--reg-cutoff-rate``: Cutoff on the source embeddings of
the copies after the first, inside R-Drop's one forward pass, without forking
a fairseq model; with ``--reg-cutoff-decoder`` on the decoder's input
embeddings too (SimCut).

For the duration of one model call a forward hook sits on the token
embedding(s) concerned and zeroes the drawn entries (``cutoff.py``) of the
output of the ONE call whose input is this forward's own ``src_tokens`` (or
``prev_output_tokens``) tensor: with ``--share-all-embeddings`` the same
Embedding embeds both, and only the side asked for may be cut. The hooks are
removed when the call ends, whatever happens, so validation and generation
never see them.
"""

from contextlib import contextmanager
from typing import Callable, Dict, NamedTuple, Optional, Tuple

import torch

from ..cutoff import NONE, apply_cutoff, draw_cutoff
from ..errors import RDropConfigError

# where the source token embedding lives: transformer, bart (encoder.embed_tokens);
# roberta-style encoders (encoder.sentence_encoder.embed_tokens)
SOURCE_PATHS = (("encoder", "embed_tokens"), ("encoder", "sentence_encoder", "embed_tokens"))
DECODER_PATHS = (("decoder", "embed_tokens"),)


def arch_name(model) -> str:
    return type(getattr(model, "module", model)).__name__


def _embedding(model, paths, missing: str) -> torch.nn.Module:
    for path in paths:
        module = model
        for name in path:
            module = getattr(module, name, None)
        if isinstance(module, torch.nn.Module):
            return module
    raise RDropConfigError(missing.format(arch=arch_name(model)))


def source_embedding(model) -> torch.nn.Module:
    return _embedding(
        model,
        SOURCE_PATHS,
        "--reg-cutoff-type cuts the source embeddings (encoder.embed_tokens), which {arch} does not "
        "have; use it with an encoder-decoder model (--arch transformer*, bart*) or set --reg-cutoff-type none",
    )


def decoder_embedding(model) -> torch.nn.Module:
    return _embedding(
        model,
        DECODER_PATHS,
        "--reg-cutoff-decoder cuts the decoder input embeddings (decoder.embed_tokens), which {arch} "
        "does not have; drop --reg-cutoff-decoder for this model",
    )


class Side(NamedTuple):
    """One input the cutoff cuts: its key in ``net_input``, where its
    embedding lives, and the symbols never cut."""

    key: str
    find_embedding: Callable[[torch.nn.Module], torch.nn.Module]
    pad: int
    protected: Tuple[int, ...]


class InputCutoff:
    def __init__(
        self,
        kind: str,
        rate: float,
        copies: int,
        pad: int,
        protected: Tuple[int, ...] = (),
        decoder: Optional[Tuple[int, Tuple[int, ...]]] = None,
    ):
        """``decoder``: (pad, protected) of the decoder's input to cut it too; None leaves it alone."""
        self.kind = str(kind)
        self.rate = float(rate)
        self.copies = int(copies)
        self.sides = [Side("src_tokens", source_embedding, int(pad), tuple(int(i) for i in protected))]
        if decoder is not None:
            decoder_pad, decoder_protected = decoder
            self.sides.append(
                Side(
                    "prev_output_tokens",
                    decoder_embedding,
                    int(decoder_pad),
                    tuple(int(i) for i in decoder_protected),
                )
            )
        # the masks of the latest forward, by input key (tests, debugging)
        self.last_cuts: Dict[str, torch.Tensor] = {}

    @property
    def last_cut(self) -> Optional[torch.Tensor]:
        return self.last_cuts.get("src_tokens")

    @classmethod
    def for_task(cls, task, kind, rate, copies, fallback_pad, decoder_input=False):
        def symbols(dictionary):
            if dictionary is None:
                return fallback_pad, ()
            return dictionary.pad(), (dictionary.bos(), dictionary.eos())

        # fairseq's decoder input starts with eos as its bos: protected like the source's eos
        source = symbols(getattr(task, "source_dictionary", None))
        decoder = symbols(getattr(task, "target_dictionary", None)) if decoder_input else None
        return cls(kind, rate, copies, *source, decoder=decoder)

    @property
    def active(self) -> bool:
        # rate 0 installs nothing and draws nothing: exactly R-Drop, bit for bit
        return self.kind != NONE and self.rate > 0

    @contextmanager
    def applied(self, model, net_input: Dict[str, torch.Tensor]):
        """Within the block, the model's embedding of ``net_input["src_tokens"]``
        (this very tensor; and of ``prev_output_tokens`` when the decoder is cut
        too) comes out with the drawn entries of copies 1.. zeroed."""
        if not self.active:
            yield
            return
        wanted = [(side, side.find_embedding(model), net_input.get(side.key)) for side in self.sides]
        cuts = {side.key: [] for side in self.sides}

        def hook(module, inputs, output):
            for side, embedding, tokens in wanted:
                if embedding is module and inputs and inputs[0] is tokens:
                    cut = draw_cutoff(
                        tokens, side.pad, self.rate, self.copies, self.kind, output.size(-1), side.protected
                    )
                    cuts[side.key].append(cut)
                    return apply_cutoff(output, cut)
            return None

        # one hook per distinct module: with shared embeddings both sides share one
        modules = list({id(embedding): embedding for _, embedding, _ in wanted}.values())
        handles = [module.register_forward_hook(hook) for module in modules]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
        arch = arch_name(model)
        for side in self.sides:
            if len(cuts[side.key]) != 1:
                fix = (
                    "set --reg-cutoff-type none" if side.key == "src_tokens" else "drop --reg-cutoff-decoder"
                )
                raise RDropConfigError(
                    f"cutoff: the embedding saw this batch's {side.key} {len(cuts[side.key])} times in "
                    f"one forward ({arch} does not embed them once through its embed_tokens); "
                    f"{fix} for this architecture"
                )
        self.last_cuts = {key: found[0] for key, found in cuts.items()}
