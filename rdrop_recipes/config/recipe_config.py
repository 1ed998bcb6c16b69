"""Recipe configs: a TOML file under ``configs/`` holds every parameter of a
recipe, and ``--set KEY=VALUE`` changes any of them without editing the file.

KEY names one value, in one of three ways:

* ``table.key`` (``bpe.merges``); more dots reach nested tables
  (``variants.doubled-batch.max_tokens``);
* ``table_key``, the same joined by an underscore (``bpe_merges``);
* a bare ``key`` (``merges``, ``lr``), looked up in every top-level table.

A bare or joined KEY must name exactly one value: where two tables hold it
(``clean`` is in WMT's ``[train]``, ``[valid]`` and ``[test]``) the error
lists the dotted names to choose from, rather than picking one by table order
and changing a value the user did not mean. An unknown KEY is an error too: a
typo must not silently run the default.

VALUE is read as a TOML value (``8000``, ``7e-4``, ``true``, ``["a", "b"]``)
and falls back to a bare string (``arch=transformer``), then checked against
the type of the value it replaces, so a mistake fails before hours of work.
In the tables that become command-line flags (``flag_tables``) ``false`` and
``""`` are always allowed, since they remove the flag, and a removed flag
takes a value of any type.
"""

import argparse
import copy
import os

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

from rdrop_recipes.process.errors import RecipeError

# the checkout this package lies in (rdrop_recipes/config/ is two folders below it)
REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# what a --set of a default of this type may be, and how it is named in the error
_ACCEPTS = (
    (bool, (bool,), "true or false"),
    (int, (int,), "an integer"),
    (float, (int, float), "a number"),
    (list, (list,), "a list"),
    (dict, (dict,), "a table"),
)


def default_config_path(recipe):
    return os.path.join(REPO_ROOT, "configs", f"{recipe}.toml")


def load(path):
    if not os.path.isfile(path):
        raise RecipeError(f"config {path!r} not found; pass --config with a file from configs/")
    with open(path, "rb") as f:
        try:
            return tomllib.load(f)
        except tomllib.TOMLDecodeError as err:
            raise RecipeError(f"config {path!r} is not valid TOML ({err}); fix the file") from None


def add_set_option(parser, example):
    parser.add_argument(
        "--set",
        dest="assignments",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override one config value, e.g. --set {example} (repeatable); KEY is "
        "table.key, table_key or a key only one table has",
    )


def apply_overrides(config, assignments, flag_tables=()):
    """A copy of ``config`` with every ``KEY=VALUE`` of ``assignments`` applied in order."""
    config = copy.deepcopy(config)
    for assignment in assignments or ():
        key, sep, text = assignment.partition("=")
        key, text = key.strip(), text.strip()
        if not sep or not key:
            raise RecipeError(f"--set expects key=value (got {assignment!r})")
        path = resolve_key(config, key, flag_tables)
        table, leaf = _parent(config, path), path[-1]
        value = parse_value(text)
        if not (path[0] in flag_tables and (removes_flag(value) or removes_flag(table[leaf]))):
            value = _checked(value, table[leaf], text, key)
        table[leaf] = value
    return config


def set_value(config, key, value):
    """Set ``key`` (any form ``--set`` takes) to an already typed ``value``."""
    path = resolve_key(config, key)
    _parent(config, path)[path[-1]] = value


def at_least(minimum):
    """An argparse ``type``: an integer >= ``minimum`` (a count of 0 that cannot work fails
    in argparse's one line, not hours later)."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum} (got {value})")
        return value

    return parse


def parse_value(text):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def resolve_key(config, key, flag_tables=()):
    """The path (list of keys) of the one value ``key`` names in ``config``
    (``flag_tables`` only adds the '--' hint to the unknown-key error)."""
    if "." in key:
        return _dotted(config, key)
    tables = [(name, table) for name, table in config.items() if isinstance(table, dict)]
    bare = [[name, key] for name, table in tables if _is_leaf(table, key)]
    joined = [
        [name, key[len(name) + 1 :]]
        for name, table in tables
        if key.startswith(name + "_") and _is_leaf(table, key[len(name) + 1 :])
    ]
    candidates = bare + joined
    if len(candidates) == 1:
        return candidates[0]
    if candidates:
        names = " or ".join(".".join(path) for path in candidates)
        raise RecipeError(f"--set {key}: ambiguous key; say which: {names}")
    known = ", ".join(f"{name}.{leaf}" for name, table in tables for leaf in table if _is_leaf(table, leaf))
    hint = "; flags the config does not name go after '--'" if flag_tables else ""
    raise RecipeError(f"--set {key}: unknown key (known: {known}){hint}")


def _dotted(config, key):
    parts = key.split(".")
    table = config
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(table.get(part), dict):
            where = ".".join(parts[:depth]) or "the config"
            raise RecipeError(f"--set {key}: no table {part!r} in {where}")
        table = table[part]
    if not _is_leaf(table, parts[-1]):
        known = ", ".join(leaf for leaf in table if _is_leaf(table, leaf))
        raise RecipeError(f"--set {key}: unknown key (known here: {known})")
    return parts


def _is_leaf(table, key):
    # a key naming a whole table is not a setting: --set replaces one value
    return key in table and not isinstance(table[key], dict)


def _parent(config, path):
    for part in path[:-1]:
        config = config[part]
    return config


def _checked(value, default, text, key):
    for kind, accepted, name in _ACCEPTS:
        # bool is a subclass of int: test it by exact type so 1 is not "true"
        if type(default) is kind:
            if type(value) not in accepted:
                raise RecipeError(f"--set {key}={text}: expected {name}, like the default {default!r}")
            return float(value) if kind is float else value
    if isinstance(default, str) and not isinstance(value, str):
        return text  # "8" for a string stays the string the user typed
    return value


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
        elif removes_flag(value) or value is None:
            continue
        else:
            flags.extend([flag, format_value(value)])
    return flags


def removes_flag(value):
    # not ``value in (False, "")``: 0 == False, and 0.0 is a real value (reg_alpha of no-kl)
    return value is False or value == ""


def format_value(value):
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return ",".join(format_value(v) for v in value)
    return str(value)
