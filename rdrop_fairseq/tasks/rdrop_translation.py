"""``rdrop_translation``: fairseq's translation task (every option of
``--task translation``) plus the update number for the criterion. Validation,
``--eval-bleu`` and generation are inherited as they are: the criterion never
duplicates a batch outside training.
"""

import os
from dataclasses import dataclass, field

from fairseq.data import data_utils
from fairseq.models import FairseqEncoderDecoderModel
from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from ..errors import RDropConfigError
from .data_folder import check_data_folders
from .training_checks import ChecksTraining, TrainingSettings
from .update_number import PassesUpdateNumber

PREPARE_HINT = (
    "binarize your corpus with fairseq-preprocess (or scripts/prepare-iwslt14.sh) and pass its --destdir"
)


@dataclass
class RDropTranslationConfig(TranslationConfig, TrainingSettings):
    # a language model's config (--arch transformer_lm) reads these from the task's: without
    # them the whole config fails to resolve (omegaconf InterpolationKeyError) before any
    # check can name the arch; stand-ins here (the key "no_such_setting" is never set),
    # and build_model refuses the arch
    tokens_per_sample: int = field(default="${task.max_target_positions}")
    add_bos_token: bool = field(default="${oc.select:task.no_such_setting,false}")


@register_task("rdrop_translation", dataclass=RDropTranslationConfig)
class RDropTranslationTask(ChecksTraining, PassesUpdateNumber, TranslationTask):
    cfg: RDropTranslationConfig
    model_family = FairseqEncoderDecoderModel
    arch_examples = "transformer, transformer_iwslt_de_en or transformer_wmt_en_de"
    positions_flags = "--max-source-positions/--max-target-positions"

    @classmethod
    def setup_task(cls, cfg: RDropTranslationConfig, **kwargs):
        cls.check_criterion(cfg)
        check_data_folders(cfg.data, PREPARE_HINT)
        check_language_pair(cfg.data.split(os.pathsep)[0], cfg.source_lang, cfg.target_lang)
        return super().setup_task(cfg, **kwargs)


def check_language_pair(folder, source_lang, target_lang):
    """fairseq raises "Could not infer language pair" or a FileNotFoundError on
    dict.<lang>.txt when the folder holds another pair (or one language)."""
    if source_lang is None or target_lang is None:
        if data_utils.infer_language_pair(folder) == (None, None):
            raise RDropConfigError(
                f"data folder {folder!r} holds no train.<src>-<tgt>.* files, so its language pair is unknown; "
                f"it is not a translation folder, or pass --source-lang and --target-lang; {PREPARE_HINT}"
            )
        return
    for lang in (source_lang, target_lang):
        if not os.path.isfile(os.path.join(folder, f"dict.{lang}.txt")):
            pairs = sorted(
                name[5:-4]
                for name in os.listdir(folder)
                if name.startswith("dict.") and name.endswith(".txt")
            )
            raise RDropConfigError(
                f"data folder {folder!r} has no dict.{lang}.txt (its dictionaries: {', '.join(pairs) or 'none'}); "
                f"set --source-lang/--target-lang to its languages, or {PREPARE_HINT}"
            )
