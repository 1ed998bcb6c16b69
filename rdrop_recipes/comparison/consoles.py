"""The console of a run's training or evaluation: one file the recipe's output is
appended to, attempt after attempt, each attempt opened by a ``# <time>: <command>``
line. Read back for the last line of a failure and for the training's wall time."""

import contextlib
import datetime
import os
import re
import shlex
from typing import IO, Iterator, Optional, Sequence

from rdrop_recipes.fairseq_io import log_lines

# the line ``attempt`` writes (ours, not fairseq's: read back here, beside its writer)
_ATTEMPT = re.compile(r"^# (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d): ")


def now() -> str:
    return datetime.datetime.now().isoformat(timespec="seconds")


@contextlib.contextmanager
def attempt(console: str, command: Sequence[str]) -> Iterator[IO[str]]:
    """``console`` opened for appending, its new attempt's first line written."""
    with open(console, "a", encoding="utf-8") as log:
        log.write(f"\n# {now()}: {shlex.join(command)}\n")
        log.flush()
        yield log


def last_line(console: str) -> str:
    """Where a failed recipe says why: the last line of its console with something on it."""
    with open(console, encoding="utf-8", errors="replace") as f:
        return log_lines.last_line(f.readlines())


def training_seconds(console: str) -> Optional[float]:
    """Wall time of all training attempts of a run: from each attempt's start (the
    ``# <time>: <command>`` line ``attempt`` writes) to its last time-stamped line.
    Not fairseq's ``wall=``, which restarts at 0 in a resumed run and stays there."""
    if not os.path.isfile(console):
        return None
    total, start, last = 0.0, None, None
    with open(console, encoding="utf-8", errors="replace") as f:
        for line in f:
            opened = _ATTEMPT.match(line)
            logged = None if opened else log_lines.console_time(line)
            if opened:
                if start is not None and last is not None:
                    total += max(0.0, (last - start).total_seconds())
                start, last = datetime.datetime.fromisoformat(opened.group(1)), None
            elif logged and start is not None:
                last = logged
    if start is not None and last is not None:
        total += max(0.0, (last - start).total_seconds())
    return round(total, 1)
