"""A recipe's parameters: one TOML file, overridable from the command line.

Every parameter lives once in ``configs/<recipe>.toml``. ``--set KEY=VALUE``
overrides any of them without editing the file; KEY is ``table.key``
(``bpe.merges``), the same joined by an underscore (``bpe_merges``), or the
bare key where only one table has it (``merges``).
VALUE is read as a TOML value (``8000``, ``1.5``, ``true``, ``["a", "b"]``)
and falls back to a bare string, then checked against the type of the
default so a typo fails before hours of work, not after.

The data-affecting part of the config (everything outside the tables in
``NOT_FINGERPRINTED``) is stored in the output dir; re-running into the same
dir with a different one is refused, so a half-finished run with 10k merges
is never silently continued with 32k.
"""

import copy
import json
import os
import tomllib
from typing import Dict, List, Optional, Sequence

from .atomic_stages import PrepareError, atomic_text

# where files come from, where they go, how many cores: none changes the data
NOT_FINGERPRINTED = ("download", "paths", "run")
STATE_DIR = ".prepare"
STAMP = "prepare-config.json"

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_config_path(recipe: str) -> str:
    return os.path.join(REPO_ROOT, "configs", f"{recipe}.toml")


def load(path: str) -> dict:
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        raise PrepareError(f"config file {path} not found; pass --config PATH to the recipe's TOML") from None
    except tomllib.TOMLDecodeError as err:
        raise PrepareError(f"config file {path} is not valid TOML ({err}); fix the file") from None


def _resolve_key(config: dict, key: str) -> List[str]:
    if "." in key:
        table, _, name = key.partition(".")
        if isinstance(config.get(table), dict) and name in config[table]:
            return [table, name]
    else:
        tables = [(t, v) for t, v in config.items() if isinstance(v, dict)]
        bare = [[t, key] for t, v in tables if key in v]
        joined = [[t, key[len(t) + 1:]] for t, v in tables
                  if key.startswith(t + "_") and key[len(t) + 1:] in v]
        matches = bare if len(bare) == 1 else joined
        if len(matches) == 1:
            return matches[0]
    known = ", ".join(f"{t}.{k}" for t, v in config.items() if isinstance(v, dict) for k in v)
    raise PrepareError(f"unknown setting '{key}' in --set; known settings: {known}")


def _parse_value(raw: str, default, key: str):
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok, value = True, value if isinstance(value, str) else raw
    elif isinstance(default, list):
        ok = isinstance(value, list)
    else:
        ok = True
    if not ok:
        raise PrepareError(f"--set {key}={raw}: expected a {type(default).__name__} "
                           f"like {json.dumps(default)}")
    return value


def apply_overrides(config: dict, assignments: Sequence[str]) -> dict:
    config = copy.deepcopy(config)
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep:
            raise PrepareError(f"--set {assignment}: expected KEY=VALUE, e.g. --set bpe.merges=8000")
        table, name = _resolve_key(config, key.strip())
        config[table][name] = _parse_value(raw.strip(), config[table][name], key.strip())
    return config


def set_value(config: dict, dotted: str, value) -> None:
    table, name = dotted.split(".")
    config[table][name] = value


def fingerprint(config: dict) -> Dict:
    return {table: values for table, values in config.items() if table not in NOT_FINGERPRINTED}


def _differences(old: dict, new: dict) -> str:
    diffs = []
    for table in sorted(set(old) | set(new)):
        a, b = old.get(table, {}), new.get(table, {})
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                diffs.append(f"{table}.{key}: {json.dumps(a.get(key))} -> {json.dumps(b.get(key))}")
    return "; ".join(diffs)


def _read_stamp(path: str) -> Optional[dict]:
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def check_output_dir(out_dir: str, config: dict, force: bool) -> None:
    """Refuse a dir prepared with another config, or a non-empty dir this
    recipe did not make, unless ``force``."""
    if force:
        return
    old = _read_stamp(os.path.join(out_dir, STATE_DIR, STAMP))
    wanted = fingerprint(config)
    if old is not None and old != wanted:
        raise PrepareError(
            f"output dir {out_dir} was prepared with a different config "
            f"({_differences(old, wanted)}); use another --out-dir or add --force to redo it")
    if old is None and os.path.isdir(out_dir) and os.listdir(out_dir):
        raise PrepareError(f"output dir {out_dir} exists and was not made by this recipe; "
                           f"use an empty --out-dir or add --force to write into it")


def claim_output_dir(out_dir: str, config: dict, force: bool) -> str:
    """Make ``out_dir`` ours for this config; return its stage-marker dir.
    ``force`` removes every stage marker, so all stages are redone."""
    check_output_dir(out_dir, config, force)
    state_dir = os.path.join(out_dir, STATE_DIR)
    if force and os.path.isdir(state_dir):
        for name in os.listdir(state_dir):
            if name.endswith(".done"):
                os.remove(os.path.join(state_dir, name))
    os.makedirs(state_dir, exist_ok=True)
    with atomic_text(os.path.join(state_dir, STAMP)) as handle:
        json.dump(fingerprint(config), handle, indent=1, sort_keys=True)
    return state_dir


def check_data_bin(data_bin: str, config: dict, force: bool) -> None:
    """A data-bin dir is replaced wholesale by the binarize stage: only allow
    that for one this recipe wrote (with the same config) or under --force."""
    if force or not os.path.isdir(data_bin) or not os.listdir(data_bin):
        return
    old = _read_stamp(os.path.join(data_bin, STAMP))
    if old is None:
        raise PrepareError(f"--data-bin {data_bin} exists and was not made by this recipe; "
                           f"choose another --data-bin or add --force to replace it")
    if old != fingerprint(config):
        raise PrepareError(f"--data-bin {data_bin} holds data of a different config "
                           f"({_differences(old, fingerprint(config))}); choose another "
                           f"--data-bin or add --force to replace it")


def stamp_data_bin(data_bin: str, config: dict) -> None:
    with atomic_text(os.path.join(data_bin, STAMP)) as handle:
        json.dump(fingerprint(config), handle, indent=1, sort_keys=True)
