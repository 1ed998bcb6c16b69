"""One save dir per run: runs whose settings differ never share checkpoints silently.

fairseq-train resumes whatever ``checkpoint_last.pt`` it finds in ``--save-dir``.
Two ablations that wrote into one folder (``--reg-alpha 5``, then ``--reg-alpha
0.5``) would make the second "resume" the first, train 0 updates and exit 0. So:

* the default save dir is derived from the run's settings: the config's plain
  name (``checkpoints/iwslt14-rdrop``) for the config as it is, and that name
  plus the changed settings and a hash of all of them otherwise
  (``checkpoints/iwslt14-rdrop-reg_alpha0.5-1f3a9c2e``); the data folder is
  not part of the name, so ``--data`` elsewhere keeps it;
* the settings are stored in the save dir (``run-config.json``), and a save dir
  holding checkpoints of other (or unrecorded) settings is refused unless the
  user asks for it with ``--allow-changed-settings``.

Settings are the resolved fairseq flags, ``[distributed]`` (tokens per update),
the flags after ``--`` and the data folder; flags that only say how long to train or how often to log, validate
or save are not (a larger ``max_update`` continues the same run).
"""

import glob
import hashlib
import json
import os
import re
from typing import Optional

from rdrop_recipes.config.recipe_config import removes_flag
from rdrop_recipes.folders.atomic_files import read_json, write_json
from rdrop_recipes.process.errors import RecipeError

RUN_CONFIG = "run-config.json"
ALLOW_FLAG = "--allow-changed-settings"
NOT_RUN_DEFINING = frozenset(
    (
        "max_update",
        "max_epoch",
        "stop_time_hours",
        "log_interval",
        "log_format",
        "log_file",
        "no_progress_bar",
        "tensorboard_logdir",
        "save_interval",
        "save_interval_updates",
        "keep_interval_updates",
        "keep_last_epochs",
        "keep_best_checkpoints",
        "no_epoch_checkpoints",
        "no_last_checkpoints",
        "validate_interval",
        "validate_interval_updates",
        "num_workers",
        "patience",
    )
)


def settings(cfg: dict, extra) -> dict:
    """What defines a run, as tables (the layout ``output_dirs.differences`` compares): the
    fairseq flags, the batch arithmetic of ``[distributed]`` (tokens per update; the
    update frequency it gives on this many GPUs is not a setting), the data, the flags
    after ``--``."""
    flags = {
        key: value
        for key, value in cfg.get("fairseq", {}).items()
        if key not in NOT_RUN_DEFINING and value is not None and not removes_flag(value)
    }
    run = {"data": os.path.abspath(cfg["recipe"]["data"]), "extra": list(extra)}
    return {"fairseq": flags, "distributed": dict(cfg.get("distributed", {})), "run": run}


# the settings a refusal names, and how much of each value: a recipe of other settings differs in
# dozens of keys, and the line must still say what to change
SHOWN_CHANGES, SHOWN_VALUE_CHARS = 4, 40


def _changes(current: dict, other: dict):
    """``(table, key, other's value, current value)`` for each setting that differs."""
    for table in ("fairseq", "distributed", "run"):
        new, old = current.get(table, {}), other.get(table)
        old = old if isinstance(old, dict) else {}  # a run-config.json of an older layout
        for key in sorted(set(new) | set(old)):
            if new.get(key) != old.get(key):
                yield table, key, old.get(key), new.get(key)


def _label(current: dict, plain: dict) -> str:
    """A short readable name for what differs from the plain config."""
    parts = []
    for table, key, _, value in _changes(current, plain):
        value = value if table != "run" else ""  # "extra": the flags after --
        parts.append(f"{key}{'' if value is None else value}")
    label = re.sub(r"[^A-Za-z0-9._=+-]+", "", "-".join(parts))
    return label[:48].rstrip("-")


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 3] + "..."


def changed_settings(old: dict, current: dict) -> str:
    """The settings that differ, each ``table.key: old -> new`` (values cut short), the first few."""
    changes = [f"{t}.{k}: {_short(a)} -> {_short(b)}" for t, k, a, b in _changes(current, old)]
    more = len(changes) - SHOWN_CHANGES
    return "; ".join(changes[:SHOWN_CHANGES]) + (f"; and {more} more" if more > 0 else "")


def default_save_dir(plain_dir: str, current: dict, plain: dict) -> str:
    if current == plain:
        return plain_dir
    digest = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:8]
    return f"{plain_dir}-{_label(current, plain)}-{digest}"


def _recorded(save_dir: str) -> Optional[dict]:
    recorded = read_json(os.path.join(save_dir, RUN_CONFIG))
    return recorded.get("settings") if isinstance(recorded, dict) else None


def check_resume(save_dir: str, current: dict, allow_changed: bool) -> Optional[str]:
    """Refuse to resume checkpoints of other settings; a note to print if allowed anyway."""
    if not glob.glob(os.path.join(glob.escape(save_dir), "checkpoint*.pt")):
        return None  # nothing fairseq would resume
    old = _recorded(save_dir)
    if old == current:
        return None
    if old is None:
        problem = f"holds checkpoints but no {RUN_CONFIG}, so its settings are unknown"
    else:
        problem = f"holds checkpoints of other settings ({changed_settings(old, current)})"
    if allow_changed:
        return f"save dir {save_dir} {problem}; resuming it anyway ({ALLOW_FLAG})"
    raise RecipeError(
        f"save dir {save_dir} {problem}: fairseq would resume that run and report it under these "
        f"settings; leave out --save-dir (the default is derived from the settings) or choose "
        f"another, or pass {ALLOW_FLAG} to resume it on purpose"
    )


def record(save_dir: str, current: dict, command: str) -> None:
    write_json(os.path.join(save_dir, RUN_CONFIG), {"settings": current, "command": command})
