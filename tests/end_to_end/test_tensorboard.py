"""TensorBoard: the training recipes pass fairseq ``--tensorboard-logdir
<save_dir>/tensorboard`` by default, and a real (tiny, CPU) run writes event
files holding the R-Drop metrics with the values the console log prints.
No fairseq command prints "Please install tensorboardX" (fairseq's tasks
import tensorboardX; setup.py installs it)."""

import os
import re
import subprocess
import sys

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from toy_corpus import fake_data_bin

from rdrop_recipes import train
from rdrop_recipes.training.hardware import Hardware
from rdrop_recipes.training.plan import build_plan

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IWSLT = os.path.join(REPO, "configs", "train-iwslt14.toml")
WMT = os.path.join(REPO, "configs", "train-wmt14.toml")
WARNINGS = ("tensorboardX", "tensorboard not found")


@pytest.fixture
def data_dir(tmp_path):
    return fake_data_bin(tmp_path / "bin", "de", "en")


def command(config, data_dir, save, *more):
    argv = ["--config", config, "--data", data_dir, "--save-dir", save, *more]
    return build_plan(train.parse_args(argv), Hardware("cpu")).command


@pytest.mark.parametrize("config", [IWSLT, WMT])
def test_recipes_log_to_tensorboard_in_the_run_folder_by_default(config, data_dir, tmp_path):
    cmd = command(config, data_dir, str(tmp_path / "run"))
    assert cmd[cmd.index("--tensorboard-logdir") + 1] == str(tmp_path / "run" / "tensorboard")
    assert "--tensorboard-logdir" not in command(
        config, data_dir, str(tmp_path / "run"), "--set", "tensorboard="
    )


def console_records(log, kind):
    """{num_updates: {metric: value}} of the ``train_inner`` or ``valid`` lines of a
    ``--log-format simple`` log."""
    records = {}
    for line in log.splitlines():
        if f"| {kind} |" not in line:
            continue
        body = line.split(f"| {kind} |", 1)[1]
        pairs = re.findall(r"(\w+)[= ]([-\d.e+]+)(?:,|$| \|)", body)
        values = {key: float(value) for key, value in pairs}
        records[int(values["num_updates"])] = values
    return records


def scalars(folder):
    events = EventAccumulator(folder)
    events.Reload()
    return {tag: {e.step: e.value for e in events.Scalars(tag)} for tag in events.Tags()["scalars"]}


@pytest.mark.slow
def test_a_recipe_run_writes_the_rdrop_metrics_to_tensorboard(tmp_path):
    raw, binarized, save = tmp_path / "raw", tmp_path / "bin", tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    subprocess.run(
        [sys.executable, "-m", "rdrop_recipes.toy_data", str(raw), "--train", "300"],
        check=True,
        capture_output=True,
        env=env,
    )
    prep = subprocess.run(
        ["fairseq-preprocess", "--source-lang", "src", "--target-lang", "tgt", "--joined-dictionary"]
        + ["--trainpref", f"{raw}/train", "--validpref", f"{raw}/valid", "--destdir", str(binarized)]
        + ["--workers", "1"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert prep.returncode == 0, prep.stderr[-2000:]
    settings = [
        "source_lang=src", "target_lang=tgt", "arch=transformer", "max_update=6", "warmup_updates=2",
        "lr=5e-3", "log_interval=2", "max_tokens=1024", "dropout=0.1",
    ]  # fmt: skip
    proc = subprocess.run(
        ["bash", os.path.join(REPO, "scripts", "train-iwslt14.sh"), "--data", str(binarized)]
        + ["--save-dir", str(save)]
        + [word for setting in settings for word in ("--set", setting)]
        + ["--", "--encoder-layers", "1", "--decoder-layers", "1", "--encoder-embed-dim", "32"]
        + ["--decoder-embed-dim", "32", "--encoder-ffn-embed-dim", "64", "--decoder-ffn-embed-dim", "64"]
        + ["--encoder-attention-heads", "2", "--decoder-attention-heads", "2", "--no-epoch-checkpoints"],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )
    output = proc.stdout + proc.stderr
    assert proc.returncode == 0, output[-3000:]
    for text in (output, prep.stdout + prep.stderr):
        assert not any(warning in text for warning in WARNINGS), text[:2000]

    log = (save / "train.log").read_text()
    board = save / "tensorboard"
    assert sorted(os.listdir(board)) == ["train", "train_inner", "valid"]

    inner = scalars(str(board / "train_inner"))
    printed = console_records(log, "train_inner")
    assert sorted(printed) == [2, 4, 6]
    for metric in ("loss", "nll_loss", "kl_loss", "ppl", "lr", "gnorm"):
        assert sorted(inner[metric]) == [2, 4, 6], metric
        for step, values in printed.items():
            assert inner[metric][step] == pytest.approx(values[metric], rel=2e-3, abs=1e-3), (metric, step)
    assert all(value > 0 for value in inner["kl_loss"].values())  # dropout 0.1: the copies differ

    epochs = scalars(str(board / "train"))
    assert {"loss", "nll_loss", "kl_loss"} <= set(epochs) and sorted(epochs["kl_loss"]) == [3, 6]

    valid = scalars(str(board / "valid"))
    printed = console_records(log, "valid")
    assert sorted(printed) == [3, 6]
    for metric in ("loss", "nll_loss", "ppl", "bleu"):
        for step, values in printed.items():
            assert valid[metric][step] == pytest.approx(values[metric], rel=2e-3, abs=1e-2), (metric, step)
