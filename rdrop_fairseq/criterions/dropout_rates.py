"""Two sub-models with different dropout rates (R-Drop paper, sec. 4.4).

One concatenated pass cannot give each copy its own rate (fairseq's dropout
modules draw one rate per call), so this variant runs two forward passes and
stacks their logits; the default path never comes here.
"""

from contextlib import contextmanager
from typing import List, Optional, Tuple

import torch
from fairseq.modules import FairseqDropout, MultiheadAttention

from ..errors import RDropConfigError


def main_dropout_modules(model) -> List[FairseqDropout]:
    """The modules that apply ``--dropout`` (not attention or activation dropout)."""
    found = []
    for parent in model.modules():
        if isinstance(parent, MultiheadAttention):
            continue
        child = getattr(parent, "dropout_module", None)
        if isinstance(child, FairseqDropout):
            found.append(child)
    return found


class DropoutRates:
    def __init__(self, rates: Tuple[float, float]):
        self.rates = rates

    @classmethod
    def parse(cls, spec: Optional[str]) -> Optional["DropoutRates"]:
        if spec is None or str(spec).strip() == "":
            return None
        parts = [part.strip() for part in str(spec).split(",")]
        try:
            rates = tuple(float(part) for part in parts)
        except ValueError:
            rates = ()
        if len(rates) != 2 or not all(0.0 <= rate < 1.0 for rate in rates):
            raise RDropConfigError(
                f"--reg-dropouts takes two rates in [0, 1) as 'p1,p2', e.g. 0.1,0.3 (got {spec!r})"
            )
        return cls(rates)

    @contextmanager
    def rate(self, modules, p):
        saved = [module.p for module in modules]
        for module in modules:
            module.p = p
        try:
            yield
        finally:
            for module, old in zip(modules, saved):
                module.p = old

    def forward_two_passes(self, model, net_input, **model_kwargs):
        modules = main_dropout_modules(model)
        outputs = []
        for p in self.rates:
            with self.rate(modules, p):
                outputs.append(model(**net_input, **model_kwargs))
        logits = torch.cat([out[0] for out in outputs], dim=0)
        return logits, outputs[0][1]
