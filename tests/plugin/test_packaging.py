"""The plugin is what ``--user-dir`` loads into every fairseq process: it must
not drag in the recipes or their dependencies (tokenizers, BPE, plotting,
ROUGE), which a user of the plugin alone need not have installed."""

import json
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# What the recipes use and the plugin never should.
RECIPE_DEPENDENCIES = (
    "rdrop_recipes",
    "sacremoses",
    "subword_nmt",
    "matplotlib",
    "rouge_score",
    "tensorboard",
    "sacrebleu",
)

# A fairseq-train command line up to argument parsing: with --user-dir, fairseq
# imports the plugin (fairseq.utils.import_user_module) and parses its criterion's options.
PROBE = """
import json, sys
sys.path.insert(0, {repo!r})
from fairseq import options
if {with_plugin!r}:
    import rdrop_fairseq
    argv = ["data", "--user-dir", rdrop_fairseq.USER_DIR, "--task", "rdrop_translation",
            "--criterion", "reg_label_smoothed_cross_entropy", "--reg-alpha", "5"]
else:
    argv = ["data", "--task", "translation", "--criterion", "label_smoothed_cross_entropy"]
args = options.parse_args_and_arch(options.get_training_parser(), argv + ["--arch", "transformer"])
assert getattr(args, "reg_alpha", 5.0) == 5.0
print(json.dumps(sorted(name.split(".")[0] for name in sys.modules)))
"""


def loaded_modules(with_plugin):
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(repo=REPO, with_plugin=with_plugin)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return set(json.loads(result.stdout.strip().splitlines()[-1]))


def test_registering_the_plugin_loads_none_of_the_recipes_dependencies():
    with_plugin = loaded_modules(True)
    assert "rdrop_fairseq" in with_plugin
    # fairseq imports some of these on its own, whoever its user is: today sacrebleu
    # (fairseq.scoring) and tensorboard (fairseq.logging.progress_bar, through aim and
    # torch.utils.tensorboard). The plugin answers only for what it adds to those.
    fairseq_alone = loaded_modules(False)
    added = sorted(name for name in RECIPE_DEPENDENCIES if name in with_plugin - fairseq_alone)
    assert added == [], f"importing rdrop_fairseq loads {added}"
