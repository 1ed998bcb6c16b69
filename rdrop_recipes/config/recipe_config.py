"""Recipe configs (TOML under ``configs/``) and ``--set KEY=VALUE``: KEY is ``table.key``,
``table_key`` or a bare ``key`` naming exactly one value; VALUE is TOML (else a string),
checked by config/declarations.py and the type it replaces. In ``flag_tables``, ``false``
and ``""`` remove the flag.
"""

import argparse
import copy
import difflib
import os
import sys

try:
    import tomllib
except ModuleNotFoundError:  # Python < 3.11
    import tomli as tomllib  # type: ignore[no-redef]

from rdrop_recipes.config import declarations
from rdrop_recipes.process.errors import RecipeError

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# a --set of a default of this exact type (bool is an int, but 1 is not "true"): accepted, named
_ACCEPTS = {
    int: ((int,), "an integer"),
    float: ((int, float), "a number"),
    list: ((list,), "a list"),
    dict: ((dict,), "a table"),
}


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


def parse_with_passthrough(parser, argv):
    """``parser``'s arguments; what follows ``--`` is kept verbatim in ``args.extra``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.extra = argv[cut + 1 :]
    return args


def passed_value(extra, flag, default):
    """The value fairseq gets for ``flag`` from the flags after '--' (the last wins), else ``default``."""
    value = default
    for i, arg in enumerate(extra):
        if arg == flag and i + 1 < len(extra):
            value = extra[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.partition("=")[2]
    return value


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
        value, default = parse_value(text), table.get(leaf)  # None: an R-Drop option the file lacks
        removed = path[0] in flag_tables and removes_flag(value)
        if not (removed or (path[0] in flag_tables and removes_flag(default))):
            value = _checked(value, default, text, key)
        if not removed:
            value = _declared(path, value, f"--set {key}={text}", f"--set {key}=")
        table[leaf] = value
    check_values(config, flag_tables)
    return config


def check_values(config, flag_tables=(), path=()):
    """Check every declared value of ``config``, normalized in place (``tensorboard = false`` -> ``""``)."""
    for key, value in config.items():
        where = (*path, key)
        if isinstance(value, dict):
            check_values(value, flag_tables, where)
        elif not (where[0] in flag_tables and removes_flag(value)):
            dotted = ".".join(where)
            config[key] = _declared(where, value, f"the config's {dotted} = {value!r}", f"--set {dotted}=")


def _declared(path, value, given, fix):
    try:
        return declarations.checked(path[-1], value)
    except declarations.BadValue:
        setting = declarations.SETTINGS[path[-1]]
        rule = f"{path[-1]} ({setting.meaning}) must be {setting.rule}"
        raise RecipeError(f"{given}: {rule}; e.g. {fix}{setting.example}") from None


def flag_type(key):
    """An argparse ``type`` checking a dedicated flag (``--reg-alpha``) against ``key``'s declaration."""

    def parse(text):
        try:
            return declarations.checked(key, parse_value(text))
        except declarations.BadValue:
            setting = declarations.SETTINGS[key]
            raise argparse.ArgumentTypeError(
                f"{setting.meaning} must be {setting.rule} (got {text!r})"
            ) from None

    return parse


def set_value(config, key, value):
    path = resolve_key(config, key)
    _parent(config, path)[path[-1]] = value


def at_least(minimum, maximum=None):
    """An argparse ``type``: an integer in [``minimum``, ``maximum``]."""

    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum} (got {value})")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"must be <= {maximum} (got {value})")
        return value

    return parse


def parse_value(text):
    try:
        return tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        return text


def resolve_key(config, key, flag_tables=()):
    """The path (list of keys) of the one value ``key`` names in ``config``; an R-Drop
    option the config does not list names its place in a flag table (``[fairseq]``)."""
    path, names = _dotted(config, key) if "." in key else _bare(config, key)
    path = path or _rdrop_option(config, key, flag_tables)
    if path:
        return path
    close = (
        _did_you_mean(key, names)
        or ", and none of the config's keys is close to it (the config file lists them)"
    )
    hint = "; a fairseq flag the config does not name goes after '--'" if flag_tables else ""
    raise RecipeError(f"--set {key}: unknown key{close}{hint}")


def _did_you_mean(word, names):
    close = difflib.get_close_matches(word, names, n=3, cutoff=0.6)
    return f"; did you mean {' or '.join(close)}?" if close else ""


def _bare(config, key):
    tables = [(name, table) for name, table in config.items() if isinstance(table, dict)]
    bare = [[name, key] for name, table in tables if _is_leaf(table, key)]
    joined = [
        [name, key[len(name) + 1 :]]
        for name, table in tables
        if key.startswith(name + "_") and _is_leaf(table, key[len(name) + 1 :])
    ]
    candidates = bare + joined
    if len(candidates) == 1:
        return candidates[0], []
    if candidates:
        names = " or ".join(".".join(path) for path in candidates)
        raise RecipeError(f"--set {key}: ambiguous key; say which: {names}")
    leaves = [(name, leaf) for name, table in tables for leaf in table if _is_leaf(table, leaf)]
    return None, [leaf for _, leaf in leaves] + [f"{name}.{leaf}" for name, leaf in leaves]


def _dotted(config, key):
    parts = key.split(".")
    table = config
    for depth, part in enumerate(parts[:-1]):
        if not isinstance(table.get(part), dict):
            where = ".".join(parts[:depth]) or "the config"
            tables = [name for name in table if isinstance(table[name], dict)]
            raise RecipeError(f"--set {key}: no table {part!r} in {where}{_did_you_mean(part, tables)}")
        table = table[part]
    if not _is_leaf(table, parts[-1]):
        prefix = ".".join(parts[:-1])
        return None, [f"{prefix}.{leaf}" for leaf in table if _is_leaf(table, leaf)]
    return parts, []


def _rdrop_option(config, key, flag_tables):
    """The path an R-Drop criterion option takes where the config does not list it:
    ``reg_x``, ``fairseq_reg_x`` or ``fairseq.reg_x`` in [fairseq], ``variants.NAME.reg_x``
    in that variant's table; None for any other key."""
    parts = key.split(".")
    if len(parts) == 1:
        parts = ["fairseq", key.removeprefix("fairseq_")]
    if parts[-1] not in declarations.RDROP_OPTIONS or parts[0] not in flag_tables:
        return None
    table = config
    for part in parts[:-1]:
        table = table.get(part) if isinstance(table, dict) else None
    return parts if isinstance(table, dict) else None


def _is_leaf(table, key):
    # a key naming a whole table is not a setting: --set replaces one value
    return key in table and not isinstance(table[key], dict)


def _parent(config, path):
    for part in path[:-1]:
        config = config[part]
    return config


def _checked(value, default, text, key):
    if type(default) is bool:
        try:
            return declarations.as_boolean(value)
        except declarations.BadValue:
            raise RecipeError(
                f"--set {key}={text}: expected {declarations.BOOLEAN_RULE}, like the default {default!r}"
            ) from None
    if type(default) in _ACCEPTS:
        accepted, name = _ACCEPTS[type(default)]
        if type(value) not in accepted:
            raise RecipeError(f"--set {key}={text}: expected {name}, like the default {default!r}")
        return float(value) if type(default) is float else value
    if isinstance(default, str) and not isinstance(value, str):
        return text  # "8" for a string stays the string the user typed
    return value


def to_flags(options):
    """fairseq flags for a table: ``max_tokens = 4096`` -> ``--max-tokens 4096``; ``true`` is a
    bare switch, ``false`` and ``""`` leave the flag out (how a variant removes one)."""
    flags = []
    for key, value in options.items():
        flag = "--" + key.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif not (removes_flag(value) or value is None):
            flags += [flag, format_value(value)]
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
