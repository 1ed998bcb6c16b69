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
from fairseq.models import ARCH_MODEL_REGISTRY
from fairseq.utils import resolve_max_positions
from omegaconf import II
from omegaconf.errors import OmegaConfBaseException

from ..errors import RDropConfigError


@dataclass
class TrainingSettings(FairseqDataclass):
    # no help text: fairseq's parser then leaves these to the groups that own the flags
    cpu: bool = II("common.cpu")
    fp16: bool = II("common.fp16")
    bf16: bool = II("common.bf16")
    memory_efficient_fp16: bool = II("common.memory_efficient_fp16")
    memory_efficient_bf16: bool = II("common.memory_efficient_bf16")
    update_freq: List[int] = II("optimization.update_freq")
    batch_size: Optional[int] = II("dataset.batch_size")
    batch_size_valid: Optional[int] = II("dataset.batch_size_valid")
    valid_subset: str = II("dataset.valid_subset")
    skip_invalid_size_inputs_valid_test: bool = II("dataset.skip_invalid_size_inputs_valid_test")
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


def half_precision_flags(cfg) -> List[str]:
    """The half-precision flags given that need CUDA: on the CPU --fp16 ends in "Torch
    not compiled with CUDA enabled", --bf16 and --memory-efficient-bf16 in an XLA
    AttributeError. --memory-efficient-fp16 (fairseq sets fp16 for it) is left alone:
    its optimizer trains in fp16 on the CPU, as --amp trains there."""
    wanted = []
    if setting(cfg, "fp16") and not setting(cfg, "memory_efficient_fp16"):
        wanted.append("--fp16")
    if setting(cfg, "bf16"):
        wanted.append("--memory-efficient-bf16" if setting(cfg, "memory_efficient_bf16") else "--bf16")
    return wanted


def check_hardware(cfg) -> None:
    wanted = half_precision_flags(cfg)
    if not wanted:
        return
    if setting(cfg, "cpu"):
        where = "--cpu trains on the CPU"
    elif not torch.cuda.is_available():
        where = "torch sees no CUDA GPU on this machine"
    else:
        return
    flags = " and ".join(wanted)
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


def check_batch_size(cfg) -> None:
    """fairseq takes --batch-size 0 (or a negative one) as no limit: the whole split
    in one batch, silently (with --max-tokens 0 no sentence fits, refused below)."""
    for name in ("batch_size", "batch_size_valid"):
        value = setting(cfg, name)
        if value is not None and int(value) < 1:
            raise RDropConfigError(
                f"{flag(name)} must be >= 1 (got {value}): the most sentences in one batch; "
                f"leave it out to batch by --max-tokens only"
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


def check_arch_family(model_cfg, family, examples, task_name) -> None:
    """A model of another task's family fails inside fairseq's builders (a translation
    arch under language modeling: AttributeError 'supported_targets'; roberta under
    translation: a TypeError adding a tuple to an int)."""
    arch = setting(model_cfg, "_name") or setting(model_cfg, "arch")
    model_class = ARCH_MODEL_REGISTRY.get(arch)
    if family is None or model_class is None or issubclass(model_class, family):
        return
    raise RDropConfigError(
        f"--arch {arch} does not build a {family.__name__}, the model --task {task_name} trains; "
        f"use an architecture such as {examples}"
    )


def check_sample_fits_model(cfg, model) -> None:
    """A language model's blocks are --tokens-per-sample long (except with
    --sample-break-mode eos): fairseq-train drops every block longer than the model's
    positions, and an epoch left empty ends in an IndexError."""
    tokens, mode = setting(cfg, "tokens_per_sample"), setting(cfg, "sample_break_mode")
    positions = model.max_positions()
    if tokens is None or mode == "eos" or not isinstance(positions, int) or tokens <= positions:
        return
    raise RDropConfigError(
        f"--tokens-per-sample {tokens} is longer than the model's {positions} positions "
        f"(--max-target-positions): set --tokens-per-sample {positions} or --max-target-positions {tokens}"
    )


def check_valid_lengths(dataset, split, max_positions, flags) -> None:
    """fairseq-train skips the train split's examples longer than the model takes (one
    warning), but stops on a valid split's with "Size of sample #N is invalid" after
    the first epoch, unless --skip-invalid-size-inputs-valid-test."""
    if max_positions is None or len(dataset) == 0:
        return
    _, ignored = dataset.filter_indices_by_size(np.arange(len(dataset)), max_positions)
    if len(ignored) == 0:
        return
    longest = max((dataset.size(i) for i in ignored), key=np.max)
    raise RDropConfigError(
        f"the {split} split has {len(ignored)} example(s) longer than the model takes (the longest has "
        f"{lengths_text(longest)} tokens, the limit is {lengths_text(max_positions)}), on which fairseq-train "
        f"would stop after the first epoch; raise {flags}, or pass --skip-invalid-size-inputs-valid-test "
        f"(or filter the data)"
    )


def lengths_text(lengths) -> str:
    """12, or 12/30 for a (source, target) pair."""
    return "/".join(str(int(n)) for n in np.atleast_1d(lengths))


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
    model_family = None  # the FairseqModel subclass every --arch of the task builds
    arch_examples = ""
    positions_flags = ""  # the flags that set the longest example the model takes

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
        check_batch_size(own)
        return super().build_criterion(cfg, *args, **kwargs)

    def build_model(self, cfg, *args, **kwargs):
        dictionary = self.target_dictionary or self.source_dictionary
        if dictionary is not None:
            check_adaptive_cutoffs(cfg, len(dictionary))
        check_arch_family(cfg, self.model_family, self.arch_examples, setting(self.own_config(), "_name"))
        model = super().build_model(cfg, *args, **kwargs)
        check_sample_fits_model(self.own_config(), model)
        # fairseq-train loads the valid splits after the model: their lengths are checked against it
        self.model_max_positions = model.max_positions()
        return model

    def load_dataset(self, split, *args, **kwargs):
        own = self.own_config()
        check_split_not_empty(setting(own, "data"), split)
        loaded = super().load_dataset(split, *args, **kwargs)
        valid = (setting(own, "valid_subset") or "").split(",")
        if split in valid and setting(own, "skip_invalid_size_inputs_valid_test") is False:
            limit = resolve_max_positions(self.max_positions(), getattr(self, "model_max_positions", None))
            check_valid_lengths(self.dataset(split), split, limit, self.positions_flags)
        return loaded

    def get_batch_iterator(self, dataset, max_tokens=None, *args, **kwargs):
        check_batch_holds_a_sentence(dataset, max_tokens)
        return super().get_batch_iterator(dataset, max_tokens, *args, **kwargs)
