"""Prepared folders. Which config made an output dir, so a re-run cannot mix two configs' data: the
data-affecting part of the config is stored in the dir, and re-running into it with another is
refused (a half-finished run with 10k merges is never silently continued with 32k). And the
crash-safe stages that fill it: each writes its outputs atomically, then a marker
``<state_dir>/<stage>.done``. A re-run skips a stage only if its marker and outputs exist; from the
first stage that is not done, every later one is redone too, and their markers are removed before
any work starts, so a second interruption cannot leave a stale "done" behind a fresh input."""

import contextlib
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterator, List, Sequence

from rdrop_recipes.folders.atomic_files import atomic_dir, read_json, write_json
from rdrop_recipes.folders.markers import PREPARE_CONFIG, PREPARE_STATE_DIR, STAGE_DONE_SUFFIX
from rdrop_recipes.process.errors import PrepareError

# where files come from, where they go, how many cores: none changes the data
NOT_FINGERPRINTED = ("download", "paths", "run")


def fingerprint(config: dict) -> Dict:
    return {table: values for table, values in config.items() if table not in NOT_FINGERPRINTED}


def changes(old: dict, new: dict, tables: Sequence[str]) -> Iterator[tuple]:
    """``(table, key, old value, new value)`` for each key of ``tables`` that differs; a table
    that is not a dict (a stamp of an older layout) counts as empty."""
    for table in tables:
        a, b = (t if isinstance(t, dict) else {} for t in (old.get(table), new.get(table)))
        for key in sorted(set(a) | set(b)):
            if a.get(key) != b.get(key):
                yield table, key, a.get(key), b.get(key)


def differences(old: dict, new: dict) -> str:
    found = changes(old, new, sorted(set(old) | set(new)))
    return "; ".join(f"{t}.{k}: {json.dumps(a)} -> {json.dumps(b)}" for t, k, a, b in found)


def _not_a_file(path: str, flag: str) -> None:
    # checked before any stage: the binarize stage, the last, would be the first to trip on it
    if os.path.exists(path) and not os.path.isdir(path):
        raise PrepareError(f"{flag} {path} is a file; name a folder (new, or one this recipe made)")


def _check_output_dir(out_dir: str, config: dict, force: bool, flag: str) -> None:
    _not_a_file(out_dir, flag)
    if force:
        return
    old = read_json(os.path.join(out_dir, PREPARE_STATE_DIR, PREPARE_CONFIG))
    wanted = fingerprint(config)
    if old is not None and old != wanted:
        raise PrepareError(
            f"output dir {out_dir} was prepared with a different config "
            f"({differences(old, wanted)}); use another {flag} or add --force to redo it"
        )
    if old is None and os.path.isdir(out_dir) and os.listdir(out_dir):
        raise PrepareError(
            f"output dir {out_dir} exists and was not made by this recipe; "
            f"use an empty {flag} or add --force to write into it"
        )


def _check_data_bin(data_bin: str, config: dict, force: bool) -> None:
    # the binarize stage replaces it whole: only one this recipe wrote with this config, or --force
    _not_a_file(data_bin, "--data-bin")
    if force or not os.path.isdir(data_bin) or not os.listdir(data_bin):
        return
    old = read_json(os.path.join(data_bin, PREPARE_CONFIG))
    if old is None:
        raise PrepareError(
            f"--data-bin {data_bin} exists and was not made by this recipe; "
            f"choose another --data-bin or add --force to replace it"
        )
    if old != fingerprint(config):
        raise PrepareError(
            f"--data-bin {data_bin} holds data of a different config "
            f"({differences(old, fingerprint(config))}); choose another "
            f"--data-bin or add --force to replace it"
        )


def claim_dirs(out_dir: str, data_bin: str, config: dict, force: bool, flag: str = "--out-dir") -> str:
    """Before any stage: refuse a foreign or differently configured ``out_dir`` (named by ``flag``)
    or ``data_bin``, then stamp ``out_dir`` with ``config``; its stage-marker dir. ``force``
    removes every stage marker, so all stages are redone."""
    _check_output_dir(out_dir, config, force, flag)
    _check_data_bin(data_bin, config, force)
    state_dir = os.path.join(out_dir, PREPARE_STATE_DIR)
    if force and os.path.isdir(state_dir):
        for name in os.listdir(state_dir):
            if name.endswith(STAGE_DONE_SUFFIX):
                os.remove(os.path.join(state_dir, name))
    write_json(os.path.join(state_dir, PREPARE_CONFIG), fingerprint(config))  # makes state_dir
    return state_dir


@contextlib.contextmanager
def building_data_bin(data_bin: str, config: dict) -> Iterator[str]:
    """Yield the empty folder in which ``data_bin`` is built; on clean exit it is stamped with
    ``config`` and swapped in whole: fairseq refuses to overwrite a dictionary, and a
    half-binarized dir must never look finished."""
    with atomic_dir(data_bin) as tmp:
        yield tmp
        write_json(os.path.join(tmp, PREPARE_CONFIG), fingerprint(config))


@dataclass
class Stage:
    name: str
    title: str
    outputs: Sequence[str]
    run: Callable[[], None]


@dataclass
class Pipeline:
    state_dir: str
    stages: List[Stage] = field(default_factory=list)
    stream: object = None

    def add(self, name: str, title: str, outputs: Sequence[str], run: Callable[[], None]):
        self.stages.append(Stage(name, title, list(outputs), run))

    def marker(self, stage: Stage) -> str:
        return os.path.join(self.state_dir, stage.name + STAGE_DONE_SUFFIX)

    def is_done(self, stage: Stage) -> bool:
        return os.path.isfile(self.marker(stage)) and all(os.path.exists(p) for p in stage.outputs)

    def finished(self) -> bool:
        return all(self.is_done(stage) for stage in self.stages)

    def run(self) -> None:
        out = self.stream or sys.stdout
        os.makedirs(self.state_dir, exist_ok=True)
        first_todo = next((i for i, s in enumerate(self.stages) if not self.is_done(s)), len(self.stages))
        for stage in self.stages[first_todo:]:
            with contextlib.suppress(FileNotFoundError):
                os.remove(self.marker(stage))
        for index, stage in enumerate(self.stages):
            heading = f"[{index + 1}/{len(self.stages)}] {stage.title}"
            if index < first_todo:
                print(f"{heading}: already done, skipping", file=out, flush=True)
                continue
            print(heading, file=out, flush=True)
            start = time.monotonic()
            stage.run()
            missing = [p for p in stage.outputs if not os.path.exists(p)]
            if missing:  # a bug in the recipe, not a user error: fail loudly
                raise RuntimeError(f"stage {stage.name} did not produce {missing}")
            seconds = time.monotonic() - start
            write_json(self.marker(stage), {"stage": stage.name, "seconds": round(seconds, 1)})
            print(f"    done in {time.monotonic() - start:.1f}s", file=out, flush=True)
