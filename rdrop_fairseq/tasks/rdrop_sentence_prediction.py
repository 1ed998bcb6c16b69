"""``rdrop_sentence_prediction``: fairseq's ``sentence_prediction`` task
(GLUE fine-tuning, every option) plus the update number for the criterion,
and checks that turn fairseq's asserts and index errors into one line
naming the fix: a folder that is not in the GLUE layout, labels of the other
kind than ``--regression-target`` says, a ``--num-classes`` the labels do not
fit, and a model with no classification head.
"""

import os
from dataclasses import dataclass, field
from typing import Optional

from fairseq.data import Dictionary
from fairseq.models import ARCH_MODEL_REGISTRY
from fairseq.tasks import register_task
from fairseq.tasks.sentence_prediction import SentencePredictionConfig, SentencePredictionTask

from ..errors import RDropConfigError
from .training_checks import ChecksTraining, TrainingSettings
from .update_number import PassesUpdateNumber

PREPARE_HINT = (
    "binarize input0/ (input1/) and label/ with fairseq-preprocess --only-source "
    "(or scripts/prepare-glue.sh) and pass the task's folder"
)


@dataclass
class RDropSentencePredictionConfig(SentencePredictionConfig, TrainingSettings):
    # fairseq reads these from the criterion's config; a criterion of another family
    # has none, and the whole config then fails to resolve (omegaconf
    # InterpolationKeyError) before any check can name the flag: fall back instead,
    # and let build_criterion refuse the pairing
    regression_target: Optional[bool] = field(default="${oc.select:criterion.regression_target,null}")
    classification_head_name: str = field(
        default="${oc.select:criterion.classification_head_name,sentence_classification_head}"
    )


def check_glue_folder(data, regression, num_classes):
    if not os.path.isdir(data):
        raise RDropConfigError(f"data folder {data!r} does not exist; {PREPARE_HINT}")
    if not os.path.isfile(os.path.join(data, "input0", "dict.txt")):
        raise RDropConfigError(
            f"data folder {data!r} has no input0/dict.txt, so it is not a sentence-prediction folder; "
            f"{PREPARE_HINT}"
        )
    if num_classes is None or num_classes < 1:
        raise RDropConfigError(
            "--num-classes is required: the number of classes (2 for RTE, 3 for MNLI), 1 with --regression-target"
        )
    label = os.path.join(data, "label")
    float_labels = [name for name in _listdir(label) if name.endswith(".label")]
    class_labels = os.path.isfile(os.path.join(label, "dict.txt"))
    if not regression and float_labels and not class_labels:
        raise RDropConfigError(
            f"{label} holds real-valued labels ({float_labels[0]}), a regression task (STS-B): "
            "add --regression-target (and --num-classes 1)"
        )
    if regression and class_labels and not float_labels:
        raise RDropConfigError(
            f"{label} holds class labels (dict.txt), not real values: drop --regression-target "
            "and set --num-classes to the number of classes"
        )
    if not regression and not class_labels:
        raise RDropConfigError(
            f"data folder {data!r} has no label/dict.txt (class labels), so it is not a classification "
            f"folder; {PREPARE_HINT} (with --regression-target, label/<split>.label holds real values)"
        )
    if class_labels and not regression:
        symbols = Dictionary.load(os.path.join(label, "dict.txt"))
        # fairseq-preprocess pads a dictionary to a multiple of 8 with madeupwordNNNN
        found = sum(1 for s in symbols.symbols[symbols.nspecial :] if not s.startswith("madeupword"))
        # more classes than labels trains a head whose extra outputs no example ever targets
        if found != num_classes:
            raise RDropConfigError(
                f"{label}/dict.txt lists {found} classes but --num-classes is {num_classes}; "
                f"set --num-classes {found}"
            )
    if regression and float_labels:
        with open(os.path.join(label, float_labels[0])) as f:
            first = f.readline().split()
        if first and len(first) != num_classes:
            raise RDropConfigError(
                f"{label}/{float_labels[0]} has {len(first)} value(s) per line but --num-classes is "
                f"{num_classes}; set --num-classes {len(first)}"
            )


def check_split_files(data, split, regression):
    """fairseq asserts on a missing input0 split, and loads a split without labels
    as one with no target, which fails in the criterion."""
    needed = [os.path.join("input0", f"{split}.idx")]
    if not split.startswith("test"):  # GLUE's test sets come without labels
        needed.append(os.path.join("label", f"{split}.label" if regression else f"{split}.idx"))
    for path in needed:
        if not os.path.isfile(os.path.join(data, path)):
            raise RDropConfigError(f"data folder {data!r} has no {path}, so no {split} split; {PREPARE_HINT}")


def _listdir(folder):
    return sorted(os.listdir(folder)) if os.path.isdir(folder) else []


@register_task("rdrop_sentence_prediction", dataclass=RDropSentencePredictionConfig)
class RDropSentencePredictionTask(ChecksTraining, PassesUpdateNumber, SentencePredictionTask):
    sentence_level = True
    positions_flags = "--max-positions (or add --truncate-sequence)"

    @classmethod
    def setup_task(cls, cfg, **kwargs):
        cls.check_criterion(cfg)
        check_glue_folder(cfg.data, bool(cfg.regression_target), cfg.num_classes)
        return super().setup_task(cfg, **kwargs)

    def load_dataset(self, split, combine=False, **kwargs):
        check_split_files(self.cfg.data, split, bool(self.cfg.regression_target))
        return super().load_dataset(split, combine=combine, **kwargs)

    def build_model(self, cfg, from_checkpoint=False):
        arch = getattr(cfg, "_name", None) or getattr(cfg, "arch", None)
        model_class = ARCH_MODEL_REGISTRY.get(arch)
        if model_class is not None and not hasattr(model_class, "register_classification_head"):
            raise RDropConfigError(
                f"--arch {arch} has no classification head; sentence prediction needs a model that "
                "registers one (roberta_base, roberta_large, bart_base, bart_large, ...)"
            )
        return super().build_model(cfg, from_checkpoint)
