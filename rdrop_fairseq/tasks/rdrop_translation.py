"""``rdrop_translation``: fairseq's translation task, plus the one thing R-Drop
needs from a task: telling the criterion which update it is on, so that
``--reg-every k`` can apply R-Drop on every k-th update (the criterion only
sees samples, and counting its own calls would break under --update-freq and
on resume). Validation, ``--eval-bleu`` and generation are inherited as they
are: the criterion never duplicates a batch outside training.
"""

from dataclasses import dataclass

from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask


@dataclass
class RDropTranslationConfig(TranslationConfig):
    pass


@register_task("rdrop_translation", dataclass=RDropTranslationConfig)
class RDropTranslationTask(TranslationTask):
    cfg: RDropTranslationConfig

    def train_step(self, sample, model, criterion, optimizer, update_num, ignore_grad=False):
        set_update_num = getattr(criterion, "set_update_num", None)
        if set_update_num is not None:
            set_update_num(update_num)
        return super().train_step(sample, model, criterion, optimizer, update_num, ignore_grad)
