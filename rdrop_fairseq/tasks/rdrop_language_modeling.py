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
import os
import types
from dataclasses import dataclass

import numpy as np
from fairseq.models import FairseqLanguageModel
from fairseq.tasks import register_task
from fairseq.tasks.language_modeling import LanguageModelingConfig, LanguageModelingTask

from ..errors import RDropConfigError
from .data_folder import check_data_folders
from .training_checks import ChecksTraining, TrainingSettings
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
class RDropLanguageModelingConfig(LanguageModelingConfig, TrainingSettings):
    pass


@register_task("rdrop_language_modeling", dataclass=RDropLanguageModelingConfig)
class RDropLanguageModelingTask(ChecksTraining, PassesUpdateNumber, LanguageModelingTask):
    model_family = FairseqLanguageModel
    arch_examples = "transformer_lm, transformer_lm_gpt or transformer_lm_wiki103"
    positions_flags = "--max-target-positions (and --tokens-per-sample)"

    @classmethod
    def setup_task(cls, args, **kwargs):
        cls.check_criterion(args)
        hint = (
            "binarize your text with fairseq-preprocess --only-source (or scripts/prepare-wikitext103.sh) "
            "and pass its --destdir"
        )
        check_data_folders(args.data, hint)
        folder = args.data.split(os.pathsep)[0]
        if not os.path.isfile(os.path.join(folder, "dict.txt")):
            # a translation folder has dict.<lang>.txt: fairseq's FileNotFoundError on dict.txt
            raise RDropConfigError(
                f"data folder {folder!r} has no dict.txt, so it is not a language-modeling folder "
                f"(a translation folder has one dictionary per language); {hint}"
            )
        return super().setup_task(args, **kwargs)

    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        with numpy_compat_long():
            return super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)
