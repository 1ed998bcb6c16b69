"""``rdrop_translation``: fairseq's translation task (every option of
``--task translation``) plus the update number for the criterion. Validation,
``--eval-bleu`` and generation are inherited as they are: the criterion never
duplicates a batch outside training.
"""

from dataclasses import dataclass

from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from .data_folder import check_data_folders
from .update_number import PassesUpdateNumber


@dataclass
class RDropTranslationConfig(TranslationConfig):
    pass


@register_task("rdrop_translation", dataclass=RDropTranslationConfig)
class RDropTranslationTask(PassesUpdateNumber, TranslationTask):
    cfg: RDropTranslationConfig

    @classmethod
    def setup_task(cls, cfg: RDropTranslationConfig, **kwargs):
        check_data_folders(
            cfg.data,
            "binarize your corpus with fairseq-preprocess (or scripts/prepare-iwslt14.sh) and pass its --destdir",
        )
        return super().setup_task(cfg, **kwargs)
