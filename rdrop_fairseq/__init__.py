"""R-Drop for fairseq: ``--user-dir rdrop_fairseq --task rdrop_translation
--criterion reg_label_smoothed_cross_entropy --reg-alpha 5`` (and the
language-modeling task ``rdrop_language_modeling``).

The tensor math (``consistency``, ``fused_head``, ``adaptive_softmax_loss``)
imports without fairseq; registration with fairseq happens only where fairseq
is installed.
"""

import os

__version__ = "0.1.0"
USER_DIR = os.path.dirname(os.path.abspath(__file__))

try:
    import fairseq  # noqa: F401
except ModuleNotFoundError as missing:  # pragma: no cover - depends on the environment
    if missing.name != "fairseq":
        raise
else:
    from . import checkpoint_compat, criterions  # noqa: F401
    from .errors import install_excepthook
    from .tasks import (  # noqa: F401  (fairseq imports tasks/ only for --user-dir)
        rdrop_language_modeling,
        rdrop_sentence_prediction,
        rdrop_translation,
    )

    checkpoint_compat.install()
    install_excepthook()
