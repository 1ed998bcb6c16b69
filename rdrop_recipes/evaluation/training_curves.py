"""Training curves from fairseq-train logs (``fairseq_io.log_lines.read_stats``), runs side by
side (cf. the R-Drop paper's Figure 2): four metrics against updates (top row) and wall-clock
time (bottom row). A run's records are keyed by num_updates, so a resumed run that appended to
the same log, or a record fairseq prints twice, counts once."""

import functools
import itertools
import os
from dataclasses import dataclass, field
from typing import Dict, List, Optional

from rdrop_recipes.fairseq_io.log_lines import read_stats
from rdrop_recipes.folders.atomic_files import atomic_path
from rdrop_recipes.process.errors import RecipeError

# which records of a Run each kind of stats line fills
_RECORDS = {"train_inner": "train", "train": "summary", "valid": "valid"}
# Train panel: nll_loss, not loss: R-Drop's loss sums the cross-entropy of both copies
# plus alpha*KL per token of one copy, about twice a baseline's, while nll_loss is per
# token of every copy in both criteria. Valid loss is single-copy LS-CE in both.
PANELS = (
    ("train", "nll_loss", "train NLL loss (per token)"),
    ("valid", "loss", "valid loss"),
    ("train", "kl_loss", "train KL (kl_loss)"),
    ("valid", "bleu", "valid BLEU"),
)
# the wall-clock axis: (longest run below, seconds per unit, unit)
TIME_UNITS = ((120, 1.0, "s"), (2 * 3600, 60.0, "min"), (float("inf"), 3600.0, "h"))


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
            x = updates if axis == "updates" else self.wall_at(updates)
            if value is not None and x is not None:
                points.append((x, value))
        return points

    def train_records(self):
        # train_inner lines where there are any; a tqdm log only has epoch summaries
        return self.train or self.summary

    def wall_at(self, updates):
        # valid lines carry no clock: take the first train record at or after them
        # (the end-of-epoch summary logged right after validation), else the last
        clock = self.wall_clock
        later = [u for u in clock if u >= updates]
        return clock.get(min(later) if later else max(clock, default=None))

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


def parse_log(path, label=None) -> Run:
    """The log ``path``, or the train.log of the save dir ``path``; ``label`` by default that
    save dir's name, else the log's."""
    if os.path.isdir(path):
        if not os.path.isfile(os.path.join(path, "train.log")):
            raise RecipeError(f"{path!r} is a folder without train.log; pass the log file itself")
        path = os.path.join(path, "train.log")
    elif not os.path.isfile(path):
        raise RecipeError(f"log {path!r} not found")
    if os.path.basename(path) == "train.log":
        label = label or os.path.basename(os.path.dirname(os.path.abspath(path)))
    run = Run(label or os.path.splitext(os.path.basename(path))[0], path)
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


def plot(runs, out, title=None):
    import logging

    # fairseq's import leaves the root logger at DEBUG; matplotlib would narrate its font search
    logging.getLogger("matplotlib").setLevel(logging.WARNING)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    longest = max((p[0] for run in runs for p in run.series("train", "nll_loss", "wall")), default=0)
    _, scale, unit = next(limits for limits in TIME_UNITS if longest < limits[0])
    fig, axes = plt.subplots(2, len(PANELS), figsize=(4.2 * len(PANELS), 7.4), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    # row by row, as axes.flat: against updates, then against wall-clock time
    for ax, (axis, (split, metric, name)) in zip(axes.flat, itertools.product(("updates", "wall"), PANELS)):
        for run, color in zip(runs, itertools.cycle(colors)):
            points = run.series(split, metric, axis)
            if not points:
                continue
            xs = [x / scale if axis == "wall" else x for x, _ in points]
            ys = [y for _, y in points]
            marker = "o" if split == "valid" or len(points) < 30 else None
            ax.plot(xs, ys, color=color, marker=marker, markersize=3, linewidth=1.4, label=run.label)
        if not ax.lines:
            ax.text(
                0.5, 0.5, "not in these logs", ha="center", va="center", transform=ax.transAxes, color="gray"
            )
        ax.set_title(name, fontsize=11)
        ax.set_xlabel("updates" if axis == "updates" else f"wall-clock time ({unit})")
        ax.grid(True, alpha=0.3)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 5), useMathText=True)
    legend = {}  # label -> handle, each run once
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels()):
            legend.setdefault(label, handle)
    fig.legend(
        list(legend.values()),
        list(legend),
        loc="upper center",
        ncol=min(len(legend), 6),
        frameon=False,
        bbox_to_anchor=(0.5, 0.965),
    )
    fig.suptitle(title or "training curves", fontsize=13, y=0.995)
    fig.tight_layout(rect=(0, 0, 1, 0.93))
    with atomic_path(out) as tmp:  # the format from the final name: the temporary one ends in .tmp
        fig.savefig(tmp, dpi=110, format=os.path.splitext(out)[1][1:].lower() or "png")
    plt.close(fig)
