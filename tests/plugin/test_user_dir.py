"""`--user-dir rdrop_fairseq` from the repository root, and the installed
package's folder from anywhere else, both register the task and criterion:
fairseq-train accepts --reg-alpha and the task's own data check answers."""

import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def plugin_answers(user_dir, cwd, save_dir):
    # an explicit --save-dir: fairseq-train creates its default ./checkpoints before the task
    # answers, which would leave an empty checkpoints/ in the repository
    proc = subprocess.run(
        [
            f"{BIN}/fairseq-train",
            "no-such-data",
            "--user-dir",
            user_dir,
            "--task",
            "rdrop_translation",
            "--criterion",
            "reg_label_smoothed_cross_entropy",
            "--reg-alpha",
            "5",
            "--arch",
            "transformer",
            "--max-tokens",
            "100",
            "--cpu",
            "--save-dir",
            str(save_dir),
        ],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
    )
    return (
        proc.returncode != 0
        and "rdrop_fairseq: error: data folder 'no-such-data' does not exist" in proc.stderr
    )


@pytest.mark.slow
def test_relative_user_dir_from_the_repository_root(tmp_path):
    assert plugin_answers("rdrop_fairseq", REPO, tmp_path / "ck")


@pytest.mark.slow
def test_installed_user_dir_from_anywhere(tmp_path):
    where = subprocess.run([f"{BIN}/rdrop-fairseq-user-dir"], capture_output=True, text=True, timeout=120)
    assert where.returncode == 0
    folder = where.stdout.strip()
    assert os.path.isfile(os.path.join(folder, "__init__.py"))
    assert plugin_answers(folder, str(tmp_path), tmp_path / "ck")
