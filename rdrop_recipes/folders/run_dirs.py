"""One save dir per run: fairseq-train resumes whatever ``checkpoint_last.pt`` it finds, so an
ablation written into another's folder would "resume" it, train 0 updates and exit 0. The default
save dir is the config's name plus, where settings differ, the changed ones and a hash of all; the
settings are recorded there, and checkpoints of other settings are refused unless asked for."""

import glob
import hashlib
import json
import os
import re
from typing import Optional

from rdrop_recipes.config.recipe_config import removes_flag
from rdrop_recipes.folders.atomic_files import read_json, write_json
from rdrop_recipes.folders.markers import RUN_CONFIG
from rdrop_recipes.folders.prepared_dirs import changes
from rdrop_recipes.process.errors import RecipeError

ALLOW_FLAG = "--allow-changed-settings"
NOT_RUN_DEFINING = frozenset(
    """max_update max_epoch stop_time_hours log_interval log_format log_file no_progress_bar
    tensorboard_logdir save_interval save_interval_updates keep_interval_updates keep_last_epochs
    keep_best_checkpoints no_epoch_checkpoints no_last_checkpoints validate_interval
    validate_interval_updates num_workers patience""".split()
)
TABLES = ("fairseq", "distributed", "run")
# a refusal names the first few settings and cuts their values short: a recipe of other settings
# differs in dozens of keys, and the line must still say what to change
SHOWN_CHANGES, SHOWN_VALUE_CHARS = 4, 40


def settings(cfg: dict, extra) -> dict:
    """What defines a run: the fairseq flags, ``[distributed]`` (tokens per update, not the update
    frequency it gives on this many GPUs), the data folder and the flags after ``--``."""
    flags = {
        key: value
        for key, value in cfg.get("fairseq", {}).items()
        if key not in NOT_RUN_DEFINING and value is not None and not removes_flag(value)
    }
    run = {"data": os.path.abspath(cfg["recipe"]["data"]), "extra": list(extra)}
    return {"fairseq": flags, "distributed": dict(cfg.get("distributed", {})), "run": run}


def _label(current: dict, plain: dict) -> str:
    """A short readable name for what differs from the plain config."""
    parts = []
    for table, key, _, value in changes(plain, current, TABLES):
        value = value if table != "run" else ""  # "extra": the flags after --
        parts.append(f"{key}{'' if value is None else value}")
    label = re.sub(r"[^A-Za-z0-9._=+-]+", "", "-".join(parts))
    return label[:48].rstrip("-")


def _short(value) -> str:
    text = json.dumps(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else text[: SHOWN_VALUE_CHARS - 3] + "..."


def changed_settings(old: dict, current: dict) -> str:
    """The first few settings that differ, each ``table.key: old -> new``."""
    found = [f"{t}.{k}: {_short(a)} -> {_short(b)}" for t, k, a, b in changes(old, current, TABLES)]
    more = len(found) - SHOWN_CHANGES
    return "; ".join(found[:SHOWN_CHANGES]) + (f"; and {more} more" if more > 0 else "")


def default_save_dir(plain_dir: str, current: dict, plain: dict) -> str:
    if current == plain:
        return plain_dir
    digest = hashlib.sha256(json.dumps(current, sort_keys=True).encode()).hexdigest()[:8]
    return f"{plain_dir}-{_label(current, plain)}-{digest}"


def check_resume(save_dir: str, current: dict, allow_changed: bool) -> Optional[str]:
    """Refuse to resume checkpoints of other settings; a note to print if allowed anyway."""
    if not glob.glob(os.path.join(glob.escape(save_dir), "checkpoint*.pt")):
        return None  # nothing fairseq would resume
    recorded = read_json(os.path.join(save_dir, RUN_CONFIG))
    old = recorded.get("settings") if isinstance(recorded, dict) else None
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
