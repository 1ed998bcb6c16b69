"""The GPU check's rehearsal (issue 22): ``scripts/gpu-check.sh --device cpu --tiny`` runs
every step of the command a GPU machine runs, on the toy corpus, so the script cannot rot
while no GPU is at hand. Its report must hold every step with its status."""

import os
import re
import subprocess

import pytest
from conftest import REPO
from fairseq_commands import clean_env

STEPS = ["install", "gpu-tests", "train-baseline", "evaluate-baseline", "train-rdrop", "evaluate-rdrop"]
BENCH = "bench-tiny-fp32"


@pytest.mark.slow
def test_rehearsal_reports_every_step(data_bin, tmp_path):
    out = tmp_path / "report"
    proc = subprocess.run(
        ["bash", "scripts/gpu-check.sh", "--device", "cpu", "--tiny", "--out", str(out), "--data", data_bin],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = (out / "REPORT.md").read_text()
    status = dict(re.findall(r"^\| ([\w-]+) \| ([^|]+?) \|", report, re.MULTILINE))
    # fairseq is importable here, so the install step says why it did nothing
    assert status.pop("install").startswith("skipped: fairseq"), report
    for step in STEPS[1:] + [BENCH]:
        assert status.get(step) == "ok", f"{step}: {status.get(step)}\n{report}"
    assert re.search(r"gpu tests: \d+ skipped", report), "without a GPU every gpu case skips"
    # the BLEU pair, each after the same number of updates
    assert re.search(r"^\| baseline \| 10 \| BLEU = [\d.]+ ", report, re.MULTILINE), report
    assert re.search(r"^\| rdrop \| 10 \| BLEU = [\d.]+ ", report, re.MULTILINE), report
    # the benchmark's tables: R-Drop against the doubled batch, the built-in and the official formula
    for row in ("| rdrop@T |", "| ls@2T |", "| fairseq-builtin@T |", "| official@T |"):
        assert row in report
    assert "| R-Drop peak memory / doubled batch |" in report
    # few files, so a device's results folder brings them all back
    assert sorted(os.listdir(out)) == ["REPORT.md", "bench.log", "compare.log", "install.log", "tests.log"]


def test_unknown_argument_is_a_clear_error():
    proc = subprocess.run(["bash", "scripts/gpu-check.sh", "--gpu"], cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unknown argument --gpu" in proc.stderr and "usage:" in proc.stderr
