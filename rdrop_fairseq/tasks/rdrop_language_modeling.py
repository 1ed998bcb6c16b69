"""``rdrop_language_modeling``: fairseq's ``language_modeling`` task (every
option) plus the update number for the criterion, and a numpy 2 fix scoped to
dataset building.

fairseq's ``TokenBlockDataset`` asks numpy for ``np.compat.long``, which
numpy 2 removed: ``--sample-break-mode eos`` and ``fairseq-eval-lm`` (always
eos) crash while building the dataset. The name is provided only while this
task builds a dataset, then removed again, as ``checkpoint_compat`` scopes
its fix: nothing else in the process sees a changed numpy.
"""

import contextlib
import types
from dataclasses import dataclass

import numpy as np
from fairseq.tasks import register_task
from fairseq.tasks.language_modeling import LanguageModelingConfig, LanguageModelingTask

from .data_folder import check_data_folders
from .update_number import PassesUpdateNumber


@contextlib.contextmanager
def numpy_compat_long():
    if hasattr(np, "compat"):  # numpy 1.x: nothing to provide
        yield
        return
    np.compat = types.SimpleNamespace(long=np.int64)
    try:
        yield
    finally:
        del np.compat


@dataclass
class RDropLanguageModelingConfig(LanguageModelingConfig):
    pass


@register_task("rdrop_language_modeling", dataclass=RDropLanguageModelingConfig)
class RDropLanguageModelingTask(PassesUpdateNumber, LanguageModelingTask):
    @classmethod
    def setup_task(cls, args, **kwargs):
        check_data_folders(
            args.data,
            "binarize your text with fairseq-preprocess --only-source (or scripts/prepare-wikitext103.sh) "
            "and pass its --destdir",
        )
        return super().setup_task(args, **kwargs)

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        with numpy_compat_long():
            return super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)
