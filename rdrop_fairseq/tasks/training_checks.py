"""What every R-Drop task checks before fairseq trains, where fairseq would
crash far from the flag (an AttributeError, an omegaconf error, a CUDA assert,
a ZeroDivisionError, the batch sampler's ValueError) or train a wrong model.

The task sees only its own config; the settings of other groups it needs reach
it the way fairseq's own tasks reach ``common.seed``: interpolated fields
(``TrainingSettings``), read through ``setting`` so a config built without
the whole tree (a test's, an old checkpoint's) skips the check.
"""

import glob
import os
from dataclasses import dataclass
from typing import Any, List, Optional

import numpy as np
import torch
from fairseq.criterions import CRITERION_REGISTRY
from fairseq.criterions.sentence_prediction import SentencePredictionCriterion
from fairseq.dataclass import FairseqDataclass
from omegaconf import II
from omegaconf.errors import OmegaConfBaseException

from ..errors import RDropConfigError

# fairseq sets fp16/bf16 for --memory-efficient-fp16/-bf16 too, whose optimizer does
# train on the CPU (as --amp does): only plain --fp16 and --bf16 crash there
HALF_PRECISION = ("fp16", "bf16")


@dataclass
class TrainingSettings(FairseqDataclass):
    # no help text: fairseq's parser then leaves these to the groups that own the flags
    cpu: bool = II("common.cpu")
    fp16: bool = II("common.fp16")
    bf16: bool = II("common.bf16")
    memory_efficient_fp16: bool = II("common.memory_efficient_fp16")
    memory_efficient_bf16: bool = II("common.memory_efficient_bf16")
    update_freq: List[int] = II("optimization.update_freq")
    criterion_name: Optional[str] = II("criterion._name")


def setting(cfg, name) -> Any:
    """``cfg.name``, or None where the config cannot say (no such key, or an
    interpolation into a tree this config was built without)."""
    try:
        value = getattr(cfg, name, None)
    except (OmegaConfBaseException, AttributeError):
        return None
    return None if isinstance(value, str) and value.startswith("${") else value


def flag(name) -> str:
    return "--" + name.replace("_", "-")


def check_hardware(cfg) -> None:
    """fairseq's half precision needs CUDA: on the CPU --fp16 ends in "Torch not
    compiled with CUDA enabled" and --bf16 in an XLA AttributeError."""
    wanted = [
        name for name in HALF_PRECISION if setting(cfg, name) and not setting(cfg, f"memory_efficient_{name}")
    ]
    if not wanted:
        return
    if setting(cfg, "cpu"):
        where = "--cpu trains on the CPU"
    elif not torch.cuda.is_available():
        where = "torch sees no CUDA GPU on this machine"
    else:
        return
    flags = " and ".join(flag(name) for name in wanted)
    raise RDropConfigError(f"{flags} needs a CUDA GPU, but {where}; drop {flags} to train in fp32 on the CPU")


def check_update_freq(cfg) -> None:
    """fairseq divides by the update frequency (ZeroDivisionError) and a negative
    one accumulates nothing."""
    update_freq = setting(cfg, "update_freq")
    if update_freq is not None and any(int(k) < 1 for k in update_freq):
        given = ",".join(str(k) for k in update_freq)
        raise RDropConfigError(
            f"--update-freq must be >= 1 (got {given}): the number of batches summed into one update, "
            "1 updates after every batch"
        )


def sentence_level(criterion_class) -> bool:
    """A criterion that scores one label per sentence (a classification head and
    a label dictionary), not one target per token."""
    return issubclass(criterion_class, SentencePredictionCriterion)


def check_criterion_family(cfg, sentence_task: bool) -> None:
    """``cfg``: the task's config; ``criterion_name`` reaches it from the criterion's."""
    criterion_name = setting(cfg, "criterion_name")
    criterion_class = CRITERION_REGISTRY.get(criterion_name)
    if criterion_class is None or sentence_level(criterion_class) == sentence_task:
        return
    if sentence_task:
        fix = "use --criterion reg_sentence_prediction (or fairseq's sentence_prediction)"
    else:
        fix = (
            "use --criterion reg_label_smoothed_cross_entropy; reg_sentence_prediction goes with "
            "--task rdrop_sentence_prediction"
        )
    kind = "one label per sentence" if sentence_level(criterion_class) else "one target per token"
    raise RDropConfigError(
        f"--criterion {criterion_name} scores {kind}, which --task {setting(cfg, '_name')} does not "
        f"train; {fix}"
    )


def parse_cutoffs(spec, flag_name):
    """``spec``: "10000,50000" as given, or the list a model's config parsed it into."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    try:
        return [int(part) for part in parts]
    except ValueError:
        raise RDropConfigError(
            f"{flag_name} takes comma-separated word counts, e.g. 10000,50000 (got {spec!r})"
        ) from None


def check_adaptive_cutoffs(model_cfg, vocab_size: int) -> None:
    """fairseq asserts "cannot specify cutoff larger than vocab size", and unsorted
    or non-positive cutoffs end in a negative Linear size inside torch."""
    for name in ("adaptive_softmax_cutoff", "adaptive_input_cutoff"):
        spec = setting(model_cfg, name)
        if spec is None or (name == "adaptive_input_cutoff" and not setting(model_cfg, "adaptive_input")):
            continue
        cutoffs = parse_cutoffs(spec, flag(name))
        if cutoffs[0] < 1 or any(b <= a for a, b in zip(cutoffs, cutoffs[1:])) or cutoffs[-1] > vocab_size:
            raise RDropConfigError(
                f"{flag(name)} {','.join(map(str, cutoffs))}: the cutoffs must be increasing word counts from 1 up to the "
                f"dictionary's {vocab_size} symbols; set e.g. {flag(name)} "
                f"{max(1, vocab_size // 4)},{max(2, vocab_size // 2)}"
            )


def sentence_lengths(dataset) -> Optional[np.ndarray]:
    """Each example's token count as the batch sampler counts it; None where the
    dataset cannot say cheaply."""
    try:
        lengths = dataset.num_tokens_vec(np.arange(len(dataset)))
    except (NotImplementedError, AttributeError, TypeError):
        lengths = None
    if lengths is None:
        sizes = getattr(dataset, "sizes", None)
        if sizes is None:
            return None
        sizes = sizes if isinstance(sizes, (list, tuple)) else [sizes]
        lengths = np.max(np.stack([np.asarray(s) for s in sizes]), axis=0)
    return np.asarray(lengths)


def check_batch_holds_a_sentence(dataset, max_tokens) -> None:
    """fairseq-train drops every sentence longer than --max-tokens with one
    warning (and a language model's then empty epoch ends in an IndexError)."""
    if max_tokens is None or len(dataset) == 0:
        return
    lengths = sentence_lengths(dataset)
    if lengths is None:
        return
    too_long = int((lengths > max_tokens).sum())
    if too_long:
        raise RDropConfigError(
            f"--max-tokens {max_tokens} cannot hold {too_long} of the {len(lengths)} examples (the "
            f"longest has {int(lengths.max())} tokens): fairseq would skip them or fail; set --max-tokens "
            f"{int(lengths.max())} or more (and --max-tokens-valid) and --update-freq to keep the batch size"
        )


def split_files(data, split) -> List[str]:
    """The binarized files of ``split`` in every layout the R-Drop tasks read:
    ``split.src-tgt.lang.bin``, ``split.bin``, ``input0/split.bin`` and ``label/split.bin``."""
    found = []
    for folder in str(data).split(os.pathsep):
        found += glob.glob(os.path.join(glob.escape(folder), f"{glob.escape(split)}.*bin"))
        found += glob.glob(os.path.join(glob.escape(folder), "*", f"{glob.escape(split)}.bin"))
    return sorted(found)


def check_split_not_empty(data, split) -> None:
    """An empty split's .bin cannot be memory-mapped: fairseq ends in an
    AttributeError on '_bin_buffer_mmap' (or trains on nothing)."""
    if data is None:
        return
    empty = [path for path in split_files(data, split) if os.path.getsize(path) == 0]
    if empty:
        raise RDropConfigError(
            f"{empty[0]} is empty: the {split} split holds no examples; re-run the preparation "
            f"(fairseq-preprocess) on a non-empty {split} file"
        )


class ChecksTraining:
    """Mixed into each R-Drop task before its fairseq base task. fairseq-train
    builds the criterion after the model and right before the trainer, and only
    training and validation build one, so the checks of the run's settings run there."""

    sentence_level = False  # the task trains one label per sentence

    @classmethod
    def check_criterion(cls, cfg) -> None:
        """First in ``setup_task``: a criterion of the other family fails before
        (omegaconf) or inside (AttributeError) the task's own setup."""
        check_criterion_family(cfg, cls.sentence_level)

    def own_config(self):
        # fairseq's legacy tasks (language_modeling) keep it as ``args``
        return getattr(self, "cfg", None) or getattr(self, "args", None)

    def build_criterion(self, cfg, *args, **kwargs):
        own = self.own_config()
        check_hardware(own)
        check_update_freq(own)
        return super().build_criterion(cfg, *args, **kwargs)

    def build_model(self, cfg, *args, **kwargs):
        dictionary = self.target_dictionary or self.source_dictionary
        if dictionary is not None:
            check_adaptive_cutoffs(cfg, len(dictionary))
        return super().build_model(cfg, *args, **kwargs)

    def load_dataset(self, split, *args, **kwargs):
        check_split_not_empty(setting(self.own_config(), "data"), split)
        return super().load_dataset(split, *args, **kwargs)

    def get_batch_iterator(self, dataset, max_tokens=None, *args, **kwargs):
        check_batch_holds_a_sentence(dataset, max_tokens)
        return super().get_batch_iterator(dataset, max_tokens, *args, **kwargs)
