"""Loading fairseq checkpoints under torch >= 2.6.

torch.load now defaults to ``weights_only=True``, and a fairseq checkpoint
pickles an ``argparse.Namespace``, numpy scalars and omegaconf containers, so
fairseq-generate, -interactive, -validate and ``--restore-file`` die with a
WeightsUnpickler error. Allow-listing globals is a chase with no end (each
fix reveals the next class), and setting TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD
for the whole process would lower the guard for every other torch.load too.

The narrowest fix that works: wrap the two fairseq functions that unpickle
what fairseq itself pickled -- ``checkpoint_utils.load_checkpoint_to_cpu``
(every checkpoint load goes through it) and
``distributed.utils._broadcast_object_slow`` (rank 0 ships the loaded state
to the other ranks on multi-GPU resume) -- and only while they run, ask torch
for its old default through its own override variable. Any torch.load
elsewhere, and any call that passes ``weights_only`` itself, is untouched.
Loading a checkpoint executes its pickle, as it did before torch 2.6: load
only checkpoints you trust, as fairseq always required.
"""

import functools
import os
import warnings
from contextlib import contextmanager

_OVERRIDE = "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"


@contextmanager
def trusted_fairseq_load():
    previous = os.environ.get(_OVERRIDE)
    os.environ[_OVERRIDE] = "1"
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=".*TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD.*")
            yield
    finally:
        if previous is None:
            os.environ.pop(_OVERRIDE, None)
        else:
            os.environ[_OVERRIDE] = previous


def _trusting(fn):
    if getattr(fn, "_rdrop_trusted", False):
        return fn

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        with trusted_fairseq_load():
            return fn(*args, **kwargs)

    wrapper._rdrop_trusted = True
    return wrapper


def install() -> None:
    """Idempotent; called when the plugin is imported (``--user-dir``)."""
    from fairseq import checkpoint_utils
    from fairseq.distributed import utils as distributed_utils

    checkpoint_utils.load_checkpoint_to_cpu = _trusting(checkpoint_utils.load_checkpoint_to_cpu)
    distributed_utils._broadcast_object_slow = _trusting(distributed_utils._broadcast_object_slow)
