"""The console of a run's training or evaluation: the recipe's output appended attempt
after attempt, each opened by a ``# <time>: <command>`` line."""

import contextlib
import datetime
import os
import re
import shlex
from typing import IO, Iterator, Optional, Sequence

from rdrop_recipes.fairseq_io import log_lines
from rdrop_recipes.folders.results_dirs import now

# the line ``attempt`` writes (ours, not fairseq's: read back here, beside its writer)
_ATTEMPT = re.compile(r"^# (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d): ")


@contextlib.contextmanager
def attempt(console: str, command: Sequence[str]) -> Iterator[IO[str]]:
    with open(console, "a", encoding="utf-8") as log:
        log.write(f"\n# {now()}: {shlex.join(command)}\n")
        log.flush()
        yield log


def last_line(console: str) -> str:
    with open(console, encoding="utf-8", errors="replace") as f:
        return log_lines.last_line(f.readlines())


def training_seconds(console: str) -> Optional[float]:
    """Wall time of all training attempts: each from its ``# <time>:`` line to its last
    time-stamped line. Not fairseq's ``wall=``, which restarts at 0 in a resumed run."""
    if not os.path.isfile(console):
        return None
    attempts = []  # [start, last time-stamped line] of each attempt
    with open(console, encoding="utf-8", errors="replace") as f:
        for line in f:
            opened = _ATTEMPT.match(line)
            if opened:
                attempts.append([datetime.datetime.fromisoformat(opened.group(1)), None])
            elif attempts:
                attempts[-1][1] = log_lines.console_time(line) or attempts[-1][1]
    seconds = [(last - start).total_seconds() for start, last in attempts if last]
    return round(float(sum(max(0.0, s) for s in seconds)), 1)
