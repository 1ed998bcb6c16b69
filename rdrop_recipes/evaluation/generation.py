"""fairseq-generate on one checkpoint, its output in ``generate.log`` of the
results folder: the ``[generate]`` table of the config as flags."""

import os

from rdrop_recipes.config import recipe_config
from rdrop_recipes.evaluation.fairseq_runs import checkpoint_command, device_flags, run_logged
from rdrop_recipes.fairseq_io.log_lines import misses_the_plugin
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR

# the config's table of fairseq-generate flags
FLAG_TABLE = "generate"
# what fairseq cannot build from an R-Drop checkpoint without the plugin
PLUGIN_NAMES = ("rdrop_translation", "reg_label_smoothed_cross_entropy")


def generate(cfg, checkpoint, workdir, extra):
    """(command, output lines) of fairseq-generate on ``checkpoint``; the log is
    ``workdir/generate.log``."""
    recipe = cfg["recipe"]
    command = checkpoint_command("generate", recipe["data"], checkpoint)
    command += recipe_config.to_flags(cfg.get(FLAG_TABLE, {}))
    command += device_flags(recipe.get("device", "auto")) + list(extra)
    log_path = os.path.join(workdir, "generate.log")
    return command, run_logged(command, log_path, "evaluate", "fairseq-generate", plugin_hint)


def plugin_hint(lines):
    """What to pass when fairseq could not build the plugin's task or criterion."""
    if misses_the_plugin(lines, PLUGIN_NAMES):
        return (
            f"; the checkpoint was trained with the R-Drop plugin: every fairseq command that "
            f"loads it needs --user-dir {PLUGIN_DIR}"
        )
    return ""
