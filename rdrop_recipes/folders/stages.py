"""Crash-safe stages: each writes its outputs atomically, then a marker ``<state_dir>/<stage>.done``.
A re-run skips a stage only if its marker and outputs exist; from the first stage that is not done,
every later one is redone too, and their markers are removed before any work starts, so a second
interruption cannot leave a stale "done" behind a fresh input."""

import contextlib
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, List, Sequence

from rdrop_recipes.folders.atomic_files import write_json
from rdrop_recipes.folders.markers import STAGE_DONE_SUFFIX


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
