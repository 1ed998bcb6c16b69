"""fairseq-generate on one checkpoint with the config's ``[generate]`` table as flags."""

import os

from rdrop_recipes.evaluation.fairseq_runs import run_on_checkpoint
from rdrop_recipes.fairseq_io.log_lines import misses_the_plugin
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR

FLAG_TABLE = "generate"
# what fairseq cannot build from an R-Drop checkpoint without the plugin
PLUGIN_NAMES = ("rdrop_translation", "reg_label_smoothed_cross_entropy")


def generate(cfg, checkpoint, workdir, extra):
    """(command, output lines) of fairseq-generate on ``checkpoint``, logged in ``workdir/generate.log``."""
    log_path = os.path.join(workdir, "generate.log")
    return run_on_checkpoint(
        cfg, "generate", FLAG_TABLE, checkpoint, (), extra, log_path, "evaluate", plugin_hint
    )


def plugin_hint(lines):
    if misses_the_plugin(lines, PLUGIN_NAMES):
        return (
            f"; the checkpoint was trained with the R-Drop plugin: every fairseq command that "
            f"loads it needs --user-dir {PLUGIN_DIR}"
        )
    return ""
