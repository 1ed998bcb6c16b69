"""Recipe configs: a TOML file holds every hyper-parameter of a recipe, and
``--set key=value`` changes any of them without editing the file.

A value given to ``--set`` is read as a TOML value (``lr=7e-4`` is a float,
``eval_bleu=false`` a boolean, ``arch=transformer`` falls back to a string),
so overrides have the types the file would have. Keys may be dotted
(``variants.doubled-batch.max_tokens=16384``); a bare key is looked up in the
config's sections in order, so ``--set lr=7e-4`` finds ``[fairseq].lr``
without the user having to know the layout. An unknown key is an error:
a typo must not silently train the paper's default.
"""

import copy
import os

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

from .errors import RecipeError

# where a bare key is looked for, first match wins
SEARCH_ORDER = ("recipe", "fairseq", "generate", "distributed")


def repo_root():
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def load(path):
    if not os.path.isfile(path):
        raise RecipeError(f"config {path!r} not found; pass --config with a file from configs/")
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as err:
            raise RecipeError(f"config {path!r} is not valid TOML: {err}") from None


def parse_value(text):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def _locate(config, key):
    """(table, leaf) that ``key`` addresses in ``config``."""
    parts = key.split(".")
    if len(parts) > 1:
        table = config
        for part in parts[:-1]:
            if not isinstance(table.get(part), dict):
                raise RecipeError(f"--set {key}: no table {part!r} in the config")
            table = table[part]
        if parts[-1] not in table:
            raise RecipeError(f"--set {key}: unknown key; known here: {', '.join(sorted(table))}")
        return table, parts[-1]
    for section in SEARCH_ORDER:
        table = config.get(section)
        if isinstance(table, dict) and key in table:
            return table, key
    known = sorted(k for s in SEARCH_ORDER for k in config.get(s, {}) if isinstance(config.get(s), dict))
    raise RecipeError(
        f"--set {key}: unknown key (known: {', '.join(known)}); "
        "flags the config does not name go to fairseq after '--'"
    )


def apply_overrides(config, assignments):
    """A copy of ``config`` with every ``key=value`` of ``assignments`` applied in order."""
    config = copy.deepcopy(config)
    for assignment in assignments or ():
        key, sep, text = assignment.partition("=")
        if not sep or not key.strip():
            raise RecipeError(f"--set expects key=value (got {assignment!r})")
        table, leaf = _locate(config, key.strip())
        table[leaf] = parse_value(text.strip())
    return config


def to_flags(options):
    """fairseq flags for a table: ``max_tokens = 4096`` -> ``--max-tokens 4096``.

    ``true`` is a bare switch; ``false`` and the empty string leave the flag out
    (how a variant removes a flag the base recipe sets).
    """
    flags = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif value is False or value == "" or value is None:
            continue
        else:
            flags.extend([flag, format_value(value)])
    return flags


def format_value(value):
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)
