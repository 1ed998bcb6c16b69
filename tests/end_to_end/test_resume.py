"""An interrupted and resumed run is the same run: with the recipes' default
``--update-epoch-batch-itr True`` (configs/train-*.toml), a tiny R-Drop training
with ``--reg-every 3`` stopped at update 5 and resumed logs, from update 6 on,
exactly the loss, nll_loss and kl_loss of the uninterrupted run."""

import json
import os
import subprocess

import pytest
from toy_corpus import BIN, binarized, tiny_arch

from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR

STOP, END = 5, 14  # about 7 batches an epoch: the resumed part crosses an epoch boundary
METRICS = ("loss", "nll_loss", "kl_loss")


def train(data, save_dir, max_update, same_batches=("--update-epoch-batch-itr", "True")):
    command = [f"{BIN}/fairseq-train", data, "--user-dir", PLUGIN_DIR, "--task", "rdrop_translation"]
    command += ["--criterion", "reg_label_smoothed_cross_entropy", "--reg-alpha", "5", "--reg-every", "3"]
    command += ["--label-smoothing", "0.1", "--arch", "transformer", *tiny_arch(), "--share-all-embeddings"]
    command += ["--dropout", "0.3", "--optimizer", "adam", "--lr", "1e-3", "--max-tokens", "512"]
    command += [*same_batches, "--seed", "3", "--cpu", "--num-workers", "0"]
    command += ["--disable-validation", "--no-epoch-checkpoints", "--save-dir", str(save_dir)]
    command += ["--max-update", str(max_update), "--log-interval", "1", "--log-format", "json"]
    proc = subprocess.run(
        command, capture_output=True, text=True, env=dict(os.environ, OMP_NUM_THREADS="1"), timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def logged(log):
    """num_updates -> the logged metrics of each train_inner record."""
    records = {}
    for line in log.splitlines():
        if "train_inner" in line and "{" in line:
            record = json.loads(line[line.index("{") :])
            records[int(record["num_updates"])] = {m: record.get(m) for m in METRICS}
    return records


@pytest.mark.slow
def test_resumed_run_logs_what_the_uninterrupted_run_logs(tmp_path):
    data = binarized(str(tmp_path), train=300)
    whole = logged(train(data, tmp_path / "whole", END))
    train(data, tmp_path / "cut", STOP)
    resumed = logged(train(data, tmp_path / "cut", END))

    assert sorted(whole) == list(range(1, END + 1))
    assert sorted(resumed) == list(range(STOP + 1, END + 1))  # it really resumed at STOP
    # the criterion gets fairseq's update number before the step (0 for the first), so the
    # logged updates 1, 4, 7, ... carry a KL term: counted across the restart
    with_kl = [n for n in resumed if resumed[n]["kl_loss"] is not None]
    assert with_kl == [7, 10, 13]
    for n in resumed:
        assert resumed[n] == whole[n], n
