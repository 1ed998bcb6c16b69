"""Training curves, runs side by side (cf. the R-Drop paper's Figure 2): four
metrics against updates (top row) and wall-clock time (bottom row)."""

import os

from rdrop_recipes.folders.atomic_files import atomic_path

# Train panel: nll_loss, not loss: R-Drop's loss sums the cross-entropy of both copies
# plus alpha*KL per token of one copy, about twice a baseline's, while nll_loss is per
# token of every copy in both criteria. Valid loss is single-copy LS-CE in both.
PANELS = (
    ("train", "nll_loss", "train NLL loss (per token)"),
    ("valid", "loss", "valid loss"),
    ("train", "kl_loss", "train KL (kl_loss)"),
    ("valid", "bleu", "valid BLEU"),
)


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
            for i, run in enumerate(runs):
                points = run.series(split, metric, axis)
                if not points:
                    continue
                xs = [x / scale if axis == "wall" else x for x, _ in points]
                ys = [y for _, y in points]
                marker = "o" if split == "valid" or len(points) < 30 else None
                color = colors[i % len(colors)]
                ax.plot(xs, ys, color=color, marker=marker, markersize=3, linewidth=1.4, label=run.label)
            if not ax.lines:
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
