"""One declared type, range and meaning per recipe setting, keyed by its name in any table:
a type check alone lets ``--update-freq 0`` or ``lr = -1`` through to fail late or silently.
The R-Drop options are declared here too, as the recipes never import the plugin.
"""

import math
from dataclasses import dataclass
from typing import Callable

from rdrop_recipes.process.errors import RecipeError

TRUE_WORDS = ("true", "yes", "on")
FALSE_WORDS = ("false", "no", "off")
BOOLEAN_RULE = "true or false (or yes/no, on/off)"


class BadValue(ValueError):
    """A value outside its setting's declaration (the message: what it must be)."""


@dataclass(frozen=True)
class Setting:
    meaning: str  # what the value is, as an error names it
    rule: str  # what a value must be, as an error says it
    parse: Callable  # a TOML-typed value -> the value the recipe uses; BadValue otherwise
    example: str  # a value that works, for the error's fix


def as_boolean(value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in TRUE_WORDS + FALSE_WORDS:
        return value.strip().lower() in TRUE_WORDS
    raise BadValue(BOOLEAN_RULE)


def validated(meaning, rule, accepts, example, convert=None):
    """A setting whose values are those ``accepts`` (then ``convert``ed); BadValue(rule) otherwise."""

    def parse(value):
        if not accepts(value):
            raise BadValue(rule)
        return value if convert is None else convert(value)

    return Setting(meaning, rule, parse, example)


def count(meaning, minimum=1, example="1"):
    # bool is a subclass of int: `true` is not a count
    return validated(meaning, f"an integer >= {minimum}", lambda v: type(v) is int and v >= minimum, example)


# (rule, test) of a number's range, for ``number``
POSITIVE = ("a number > 0", lambda v: v > 0)
NOT_NEGATIVE = ("a number >= 0", lambda v: v >= 0)
RATE = ("a number in [0, 1)", lambda v: 0 <= v < 1)


def number(meaning, kind, example="0.1"):
    """A finite number in the range ``kind`` (an int is read as a float)."""
    rule, accepts = kind

    def finite(value):
        return type(value) in (int, float) and math.isfinite(value) and accepts(value)

    return validated(meaning, rule, finite, example, float)


def choice(meaning, options):
    return validated(meaning, "one of " + ", ".join(options), lambda v: v in options, options[0])


def auto_or_count(meaning):
    rule = '"auto" or an integer >= 1'

    def parse(value):
        if value == "auto":
            return value
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)  # "4": how earlier recipes stored a --set of this string default
        if type(value) is not int or value < 1:
            raise BadValue(rule)
        return value

    return Setting(meaning, rule, parse, "auto")


def name_or_off(meaning, on_name):
    """A name inside the save dir; ``true`` gives ``on_name``, ``false``/``no``/``off``/``""`` none."""
    rule = 'a name inside the save dir, or false/"" to turn it off'

    def parse(value):
        if value == "" or value is None:
            return ""
        try:
            return on_name if as_boolean(value) else ""
        except BadValue:
            pass
        if not isinstance(value, str):
            raise BadValue(rule)
        return value

    return Setting(meaning, rule, parse, on_name)


def path(meaning, example):
    # an empty path would be the current folder
    return validated(meaning, "a path, not empty", lambda v: isinstance(v, str) and bool(v.strip()), example)


def _two_rates(value):
    try:
        rates = [float(part) for part in str(value).split(",")]
    except ValueError:
        return False
    return len(rates) == 2 and all(RATE[1](r) for r in rates)


def rate_pair(meaning):
    return validated(meaning, 'two rates in [0, 1) as "p1,p2"', _two_rates, "0.1,0.3")


# the R-Drop criteria's options (rdrop_fairseq/criterions/rdrop_options.py), listed or not
RDROP_OPTIONS = {
    "reg_alpha": number("weight of R-Drop's KL term", NOT_NEGATIVE, "5.0"),
    "reg_kl_direction": choice("direction of R-Drop's KL term", ("bidirectional", "unidirectional")),
    "reg_passes": count("copies of each sentence R-Drop compares", 2, "2"),
    "reg_every": count("R-Drop on every k-th update", 1, "1"),
    "reg_dropouts": rate_pair("the two sub-models' dropout rates"),
    "reg_loss_impl": choice("R-Drop's loss implementation", ("fused", "reference")),
    "reg_cutoff_type": choice("Cutoff applied to R-Drop's copies", ("none", "token", "span", "dimension")),
    "reg_cutoff_rate": number("fraction cut by Cutoff", RATE, "0.05"),
    "reg_cutoff_decoder": Setting("also cut the decoder input", BOOLEAN_RULE, as_boolean, "true"),
    "reg_task_loss": choice("copies carrying the task loss", ("all-copies", "first-copy")),
}

SETTINGS = {
    **RDROP_OPTIONS,
    # what the recipe does
    "precision": choice("the training precision", ("auto", "fp16", "bf16", "fp32")),
    "device": choice("where to run", ("auto", "cpu", "cuda")),
    "tensorboard": name_or_off("TensorBoard folder", "tensorboard"),
    "log_file": name_or_off("console copy", "train.log"),
    "update_freq": auto_or_count("gradient accumulation steps"),
    "data": path("the binarized data folder", "data-bin/NAME"),
    "save_dir": path("the checkpoint folder", "checkpoints/NAME-{variant}"),
    "results_dir": path("the results folder", "results"),
    "tokens_per_update": count("tokens each update sees", 1, "524288"),
    "average_last": count("checkpoints averaged (0: none)", 0, "5"),
    # batches and model shapes: 0 of them is nothing to train or decode
    "max_tokens": count("the token limit", 1, "4096"),
    "batch_size": count("sentences per batch", 1, "16"),
    "required_batch_size_multiple": count("batch size multiple", 1, "1"),
    "tokens_per_sample": count("tokens per sample", 1, "512"),
    "max_positions": count("longest input", 1, "512"),
    "num_classes": count("output classes", 1, "2"),
    "beam": count("beam size", 1, "5"),
    "distributed_world_size": count("processes trained together", 1, "1"),
    "log_interval": count("updates between log lines", 1, "100"),
    "total_num_update": count("updates of the learning-rate decay", 1, "20000"),
    "encoder_layers": count("encoder layers", 1, "6"),
    "decoder_layers": count("decoder layers", 1, "6"),
    "encoder_embed_dim": count("encoder width", 1, "512"),
    "decoder_embed_dim": count("decoder width", 1, "512"),
    "encoder_ffn_embed_dim": count("encoder feed-forward width", 1, "2048"),
    "decoder_ffn_embed_dim": count("decoder feed-forward width", 1, "2048"),
    "encoder_attention_heads": count("encoder attention heads", 1, "8"),
    "decoder_attention_heads": count("decoder attention heads", 1, "8"),
    "merges": count("BPE merges", 1, "10000"),
    # where 0 has a meaning (fairseq: no limit, no warmup, from the start)
    "max_update": count("updates to train (0: no limit)", 0, "300000"),
    "max_epoch": count("epochs to train (0: no limit)", 0, "10"),
    "warmup_updates": count("warmup updates", 0, "4000"),
    "seed": count("random seed", 0, "1"),
    "context_window": count("context tokens scored again", 0, "0"),
    # rates and learning rates, with their sign
    "lr": number("the learning rate", POSITIVE, "5e-4"),
    "adam_eps": number("Adam's epsilon", POSITIVE, "1e-8"),
    "warmup_init_lr": number("learning rate at the start of warmup", NOT_NEGATIVE, "1e-7"),
    "weight_decay": number("the weight decay", NOT_NEGATIVE, "0.0001"),
    "clip_norm": number("gradient clipping norm (0: none)", NOT_NEGATIVE, "0.0"),
    "dropout": number("the dropout rate", RATE, "0.3"),
    "attention_dropout": number("attention dropout rate", RATE),
    "activation_dropout": number("activation dropout rate", RATE),
    "label_smoothing": number("the label-smoothing weight", RATE),
}


def checked(key, value):
    """``value`` of ``key`` as the recipe uses it (undeclared keys: as given); BadValue."""
    setting = SETTINGS.get(key)
    return value if setting is None else setting.parse(value)


SEED_RANGE = range(0, 2**32)  # numpy's, which fairseq seeds with the same number


def parse_seeds(text):
    """The seeds of ``--seeds`` (compare, finetune-glue): distinct, as each is one run, and in
    numpy's range, checked before any seed trains."""
    try:
        seeds = [int(part) for part in str(text).split(",") if part.strip()]
    except ValueError:
        seeds = []
    if not seeds:
        raise RecipeError(f"--seeds {text!r}: give comma-separated integers, e.g. 1,2")
    twice = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if twice:
        raise RecipeError(
            f"--seeds {text} names seed {', '.join(map(str, twice))} more than once, and each seed is "
            f"one run: give distinct seeds, e.g. --seeds {','.join(map(str, dict.fromkeys(seeds)))}"
        )
    outside = [seed for seed in seeds if seed not in SEED_RANGE]
    if outside:
        raise RecipeError(
            f"seed {outside[0]} is outside 0..{SEED_RANGE.stop - 1}: seeds are integers >= 0 in numpy's "
            "range, which fairseq seeds; fix --seeds"
        )
    return seeds
