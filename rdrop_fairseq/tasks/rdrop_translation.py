"""``rdrop_translation``: fairseq's translation task, plus the one thing R-Drop
needs from a task: telling the criterion which update it is on, so that
``--reg-every k`` can apply R-Drop on every k-th update (the criterion only
sees samples, and counting its own calls would break under --update-freq and
on resume). Validation, ``--eval-bleu`` and generation are inherited as they
are: the criterion never duplicates a batch outside training.
"""

import glob
import os
from dataclasses import dataclass

from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from ..errors import RDropConfigError


@dataclass
class RDropTranslationConfig(TranslationConfig):
    pass


@register_task("rdrop_translation", dataclass=RDropTranslationConfig)
class RDropTranslationTask(TranslationTask):
    cfg: RDropTranslationConfig

    @classmethod
    def setup_task(cls, cfg: RDropTranslationConfig, **kwargs):
        check_data_folders(cfg.data)
        return super().setup_task(cfg, **kwargs)

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        set_update_num = getattr(criterion, "set_update_num", None)
        if set_update_num is not None:
            set_update_num(update_num)
        return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)


def check_data_folders(data: str) -> None:
    """Fail before fairseq does, naming the fix, when DATA is not a binarized folder."""
    for folder in str(data).split(os.pathsep):
        if not os.path.isdir(folder):
            raise RDropConfigError(
                f"data folder {folder!r} does not exist; binarize your corpus with fairseq-preprocess "
                "(or scripts/prepare-iwslt14.sh) and pass its --destdir"
            )
        if not glob.glob(os.path.join(folder, "dict.*.txt")):
            raise RDropConfigError(
                f"data folder {folder!r} holds no dict.*.txt; it is not a fairseq-preprocess output folder"
            )
