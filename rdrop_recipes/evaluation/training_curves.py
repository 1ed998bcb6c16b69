"""Training curves from fairseq-train logs (``fairseq_io.log_lines.read_stats``): the
records of one run keyed by num_updates, so a resumed run that appended to the same
log, or a record fairseq prints twice, counts once."""

import functools
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from rdrop_recipes.fairseq_io.log_lines import read_stats
from rdrop_recipes.process.errors import RecipeError

# which records of a Run each kind of stats line fills
_RECORDS = {"train_inner": "train", "train": "summary", "valid": "valid"}


@dataclass
class Run:
    label: str
    path: str
    train: Dict[int, dict] = field(default_factory=dict)  # num_updates -> metrics
    summary: Dict[int, dict] = field(default_factory=dict)  # end-of-epoch train records
    valid: Dict[int, dict] = field(default_factory=dict)
    valid_subset: Optional[str] = None

    def series(self, split, metric, axis="updates") -> List[tuple]:
        """[(x, y)] sorted by update; ``axis`` "wall" gives seconds since training started."""
        records = self.train_records() if split == "train" else self.valid
        points = []
        for updates in sorted(records):
            value = records[updates].get(metric)
            if value is None:
                continue
            x = updates if axis == "updates" else self.wall_at(updates)
            if x is not None:
                points.append((x, value))
        return points

    def train_records(self):
        # train_inner lines where there are any; a tqdm log only has epoch summaries
        return self.train or self.summary

    def wall_at(self, updates):
        # valid lines carry no clock: take the first train record at or after them
        # (the end-of-epoch summary logged right after validation)
        clock = self.wall_clock
        later = [u for u in clock if u >= updates]
        if later:
            return clock[min(later)]
        return clock[max(clock)] if clock else None

    @functools.cached_property
    def wall_clock(self):
        """num_updates -> seconds of training so far, never decreasing: where a restarted
        run's clock starts again from zero, its times are added to where the last left off."""
        records = {**self.summary, **self.train}
        clock, offset, previous = {}, 0.0, None
        for updates in sorted(records):
            wall = records[updates].get("wall")
            if wall is None:
                continue
            if previous is not None and wall + offset < previous:
                offset = previous - wall
            clock[updates] = previous = wall + offset
        return clock


def log_path(path):
    if os.path.isdir(path):
        candidate = os.path.join(path, "train.log")
        if not os.path.isfile(candidate):
            raise RecipeError(f"{path!r} is a folder without train.log; pass the log file itself")
        return candidate
    if not os.path.isfile(path):
        raise RecipeError(f"log {path!r} not found")
    return path


def default_label(log):
    """The save dir of a ``train.log``, else the log's name."""
    if os.path.basename(log) == "train.log":
        return os.path.basename(os.path.dirname(os.path.abspath(log)))
    return os.path.splitext(os.path.basename(log))[0]


def parse_log(path, label=None) -> Run:
    path = log_path(path)
    run = Run(label or default_label(path), path)
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            stats = read_stats(line)
            if stats is None or stats.metrics.get("num_updates") is None:
                continue
            if stats.kind == "valid":
                run.valid_subset = run.valid_subset or stats.subset
                if stats.subset != run.valid_subset:
                    continue  # several valid subsets: plot the first
            getattr(run, _RECORDS[stats.kind])[stats.metrics["num_updates"]] = stats.metrics
    if not run.train and not run.summary:
        raise RecipeError(f"no fairseq-train training records in {path!r}; is it a fairseq-train log?")
    return run
