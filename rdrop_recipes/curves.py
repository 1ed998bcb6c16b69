"""Training curves from fairseq-train logs, runs side by side (cf. the R-Drop
paper's Figure 2): train NLL loss, valid loss, KL and valid BLEU against
updates (top row) and against wall-clock time (bottom row).

    python -m rdrop_recipes.curves LOG_OR_SAVE_DIR [...] --out curves.png [--labels a,b]

Reads what fairseq writes with --log-format simple, tqdm or json, whether the
lines carry the console prefix (``2024-01-01 12:00:00 | INFO | train_inner |``)
or not (the --log-file copy). Each record is keyed by num_updates, so a resumed
run that appended to the same log, or a record fairseq prints twice, counts once.
"""

import argparse
import json
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from rdrop_recipes.folders.atomic_files import atomic_path
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.process.exit import exits_cleanly

_PREFIX = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \| \w+ \| (\S+) \| (.*)$")
_INNER = re.compile(r"^epoch \d+:.*?(\w+=\S.*)$")
_VALID = re.compile(r"^epoch \d+ \| valid on '([^']+)' subset \| (.*)$")
_SUMMARY = re.compile(r"^epoch \d+ \| (.*)$")
# Train panel: nll_loss, not loss: R-Drop's loss sums the cross-entropy of both copies
# plus alpha*KL per token of one copy, about twice a baseline's, while nll_loss is per
# token of every copy in both criteria. Valid loss is single-copy LS-CE in both.
PANELS = (
    ("train", "nll_loss", "train NLL loss (per token)"),
    ("valid", "loss", "valid loss"),
    ("train", "kl_loss", "train KL (kl_loss)"),
    ("valid", "bleu", "valid BLEU"),
)


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
            x = updates if axis == "updates" else self.wall_at(updates, records[updates])
            if x is not None:
                points.append((x, value))
        return points

    def train_records(self):
        # train_inner lines where there are any; a tqdm log only has epoch summaries
        return self.train or self.summary

    def wall_at(self, updates, record):
        clock = self.wall_clock()
        if updates in clock:
            return clock[updates]
        # valid lines carry no clock: take the first train record at or after them
        # (the end-of-epoch summary logged right after validation)
        later = [u for u in clock if u >= updates]
        if later:
            return clock[min(later)]
        return clock[max(clock)] if clock else None

    def wall_clock(self):
        """num_updates -> seconds of training so far, never decreasing: where a restarted
        run's clock starts again from zero, its times are added to where the last left off."""
        if getattr(self, "_clock", None) is None:
            records = {**self.summary, **self.train}
            clock, offset, previous = {}, 0.0, None
            for updates in sorted(records):
                wall = records[updates].get("wall")
                if wall is None:
                    continue
                if previous is not None and wall + offset < previous:
                    offset = previous - wall
                clock[updates] = previous = wall + offset
            self._clock = clock
        return self._clock


def _numbers(pairs):
    out = {}
    for key, value in pairs:
        try:
            out[key] = float(value)
        except (TypeError, ValueError):
            continue
    if "num_updates" in out:
        out["num_updates"] = int(out["num_updates"])
    return out


def _pipe_pairs(text):
    pairs = []
    for chunk in text.split(" | "):
        key, _, value = chunk.strip().partition(" ")
        if value:
            pairs.append((key, value.strip()))
    return pairs


def parse_line(line):
    """(kind, subset, metrics) with kind in train/summary/valid, or None."""
    line = line.rstrip("\n")
    tag = None
    match = _PREFIX.match(line)
    if match:
        tag, line = match.group(1), match.group(2)
    line = line.strip()
    if line.startswith("{") and line.endswith("}"):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            return None
        if "num_updates" in record:  # train_inner (its "train_wall" is no prefix)
            return ("train", None, _numbers(record.items())) if tag in (None, "train_inner") else None
        for prefix, kind in (("valid_", "valid"), ("train_", "summary")):
            if prefix + "num_updates" in record:
                pairs = [(k[len(prefix) :], v) for k, v in record.items() if k.startswith(prefix)]
                return kind, "valid" if kind == "valid" else None, _numbers(pairs)
        return None
    match = _VALID.match(line)
    if match:
        return "valid", match.group(1), _numbers(_pipe_pairs(match.group(2)))
    match = _INNER.match(line)
    if match:
        return "train", None, _numbers(re.findall(r"(\w+)=([^,\s]+)", match.group(1)))
    match = _SUMMARY.match(line)
    if match and tag in (None, "train"):
        return "summary", None, _numbers(_pipe_pairs(match.group(1)))
    return None


def log_path(path):
    if os.path.isdir(path):
        candidate = os.path.join(path, "train.log")
        if not os.path.isfile(candidate):
            raise RecipeError(f"{path!r} is a folder without train.log; pass the log file itself")
        return candidate
    if not os.path.isfile(path):
        raise RecipeError(f"log {path!r} not found")
    return path


def default_label(path):
    name = os.path.basename(path)
    if name == "train.log" or os.path.isdir(path):
        return os.path.basename(os.path.dirname(os.path.abspath(log_path(path))))
    return os.path.splitext(name)[0]


def parse_log(path, label=None) -> Run:
    path = log_path(path)
    run = Run(label or default_label(path), path)
    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            parsed = parse_line(line)
            if parsed is None:
                continue
            kind, subset, metrics = parsed
            updates = metrics.get("num_updates")
            if updates is None:
                continue
            if kind == "valid":
                run.valid_subset = run.valid_subset or subset
                if subset != run.valid_subset:
                    continue  # several valid subsets: plot the first
            getattr(run, kind)[updates] = metrics
    if not run.train and not run.summary:
        raise RecipeError(f"no fairseq-train training records in {path!r}; is it a fairseq-train log?")
    return run


def _time_unit(seconds):
    if seconds < 120:
        return 1.0, "s"
    if seconds < 2 * 3600:
        return 60.0, "min"
    return 3600.0, "h"


def plot(runs, out, title=None):
    import logging

    # fairseq's import leaves the root logger at DEBUG; matplotlib would narrate its font search
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    longest = max((p[0] for run in runs for p in run.series("train", "nll_loss", "wall")), default=0)
    scale, unit = _time_unit(longest)
    fig, axes = plt.subplots(2, len(PANELS), figsize=(4.2 * len(PANELS), 7.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for col, (split, metric, name) in enumerate(PANELS):
        for row, axis in enumerate(("updates", "wall")):
            ax = axes[row][col]
            drawn = False
            for i, run in enumerate(runs):
                points = run.series(split, metric, axis)
                if not points:
                    continue
                xs = [x / scale if axis == "wall" else x for x, _ in points]
                ys = [y for _, y in points]
                marker = "o" if split == "valid" or len(points) < 30 else None
                ax.plot(
                    xs,
                    ys,
                    color=colors[i % len(colors)],
                    marker=marker,
                    markersize=3,
                    linewidth=1.4,
                    label=run.label,
                )
                drawn = True
            if not drawn:
                ax.text(
                    0.5,
                    0.5,
                    "not in these logs",
                    ha="center",
                    va="center",
                    transform=ax.transAxes,
                    color="gray",
                )
            ax.set_title(name, fontsize=11)
            ax.set_xlabel("updates" if axis == "updates" else f"wall-clock time ({unit})")
            ax.grid(True, alpha=0.3)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 5), useMathText=True)
    handles, labels = [], []
    for ax in axes.flat:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    fig.legend(
        handles,
        labels,
        loc="upper center",
        ncol=min(len(labels), 6),
        frameon=False,
        bbox_to_anchor=(0.5, 0.965),
    )
    fig.suptitle(title or "training curves", fontsize=13, y=0.995)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    with atomic_path(out) as tmp:  # the format from the final name: the temporary one ends in .tmp
        fig.savefig(tmp, dpi=110, format=os.path.splitext(out)[1][1:].lower() or "png")
    plt.close(fig)


@exits_cleanly("plot-curves")
def main(argv=None):
    parser = argparse.ArgumentParser(prog="plot-curves", description=__doc__.splitlines()[0])
    parser.add_argument("logs", nargs="+", help="fairseq-train logs, or save dirs holding train.log")
    parser.add_argument("--out", default="curves.png", help="PNG to write (default curves.png)")
    parser.add_argument("--labels", help="comma-separated run names, in the order of the logs")
    parser.add_argument("--title")
    args = parser.parse_args(argv)
    labels = args.labels.split(",") if args.labels else [None] * len(args.logs)
    if len(labels) != len(args.logs):
        raise RecipeError(f"--labels names {len(labels)} runs but {len(args.logs)} logs were given")
    runs = [parse_log(path, label) for path, label in zip(args.logs, labels)]
    for run in runs:
        print(
            f"plot-curves: {run.label}: {len(run.train_records())} train and {len(run.valid)} valid "
            f"records from {run.path}",
            flush=True,
        )
    plot(runs, args.out, args.title)
    print(f"plot-curves: wrote {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
