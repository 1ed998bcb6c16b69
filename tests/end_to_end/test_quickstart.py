"""The README's first command ends in scripts/quickstart.sh: it must leave a
scores.json with a BLEU that fairseq-generate really printed."""

import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow
def test_quickstart_writes_scores(tmp_path):
    out = tmp_path / "qs"
    env = {k: v for k, v in os.environ.items() if not k.startswith("TORCH_FORCE")}
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", "")
    proc = subprocess.run(
        ["bash", os.path.join(REPO, "scripts", "quickstart.sh"), "--out", str(out), "--updates", "24"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    scores = json.loads((out / "scores.json").read_text())
    generate_log = (out / "generate.log").read_text()
    assert scores["fairseq_line"] in generate_log and 0.0 <= scores["bleu"] <= 100.0
    assert "kl_loss" in (out / "train.log").read_text()
    assert not list(out.glob("*.tmp"))
