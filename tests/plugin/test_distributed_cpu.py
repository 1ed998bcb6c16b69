"""Data parallel training of the R-Drop criterion on CPU, through fairseq's own
distributed training: two worker processes (gloo) must log what one process
logs for the same global batch.

How fairseq is driven here, and why:
* each worker is its own process with ``--distributed-no-spawn``, an explicit
  ``--distributed-init-method tcp://127.0.0.1:PORT`` and ``--distributed-rank``:
  fairseq's automatic set-ups divide by torch.cuda.device_count() (torchrun's
  environment) or spawn one process per GPU, neither of which works without a GPU;
* ``--ddp-backend legacy_ddp``: fairseq's default wraps the model in torch's
  DistributedDataParallel with ``device_ids=[device_id]``, which torch refuses
  for a CPU module; fairseq's own all-reduce wrapper has no such argument.
* The single process uses ``--update-freq 2``: worker r gets batches r, r+2, ...
  of the same epoch order, so update 1 sees batches 0 and 1 in both set-ups.
* Dropout 0 makes the two runs comparable exactly (each worker draws its own
  dropout masks); the KL term is then 0, so a third run with dropout checks
  that the two workers log a positive, all-reduced kl_loss.
"""

import json
import os
import socket
import subprocess
import sys

import pytest
import torch
from toy_corpus import binarized, tiny_arch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
pytestmark = pytest.mark.slow

COMMON = [
    "--user-dir",
    os.path.join(REPO, "rdrop_fairseq"),
    "--task",
    "rdrop_translation",
    "--criterion",
    "reg_label_smoothed_cross_entropy",
    "--reg-alpha",
    "5",
    "--label-smoothing",
    "0.1",
    "--arch",
    "transformer",
    *tiny_arch(),
    "--share-all-embeddings",
    "--cpu",
    "--optimizer",
    "sgd",
    "--lr",
    "0.5",
    "--max-tokens",
    "512",
    "--max-update",
    "1",
    "--log-interval",
    "1",
    "--log-format",
    "json",
    "--seed",
    "7",
    "--disable-validation",
    "--no-epoch-checkpoints",
    "--num-workers",
    "0",
]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    binarized(str(root), train=300)
    return root


def worker_env():
    env = dict(os.environ, OMP_NUM_THREADS="1")
    for key in ("MASTER_ADDR", "MASTER_PORT", "WORLD_SIZE", "RANK", "LOCAL_RANK"):
        env.pop(key, None)  # a torchrun environment would take over fairseq's set-up
    return env


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def first_update(output):
    """The logged metrics of update 1 (the json train_inner record)."""
    for line in output.splitlines():
        start = line.find('{"epoch"')
        if start >= 0 and '"num_updates": "1"' in line:
            return {k: float(v) for k, v in json.loads(line[start:]).items() if k != "epoch"}
    raise AssertionError("no train_inner record for update 1 in:\n" + output[-3000:])


def train_command(data, save, dropout, *more):
    """fairseq-train on the toy data with COMMON; ``more`` says how it is parallel."""
    flags = ["--dropout", str(dropout), "--save-dir", str(save), *more]
    return [sys.executable, "-m", "fairseq_cli.train", str(data / "bin"), *COMMON, *flags]


def train_single(data, save, dropout):
    proc = subprocess.run(
        train_command(data, save, dropout, "--update-freq", "2"),
        capture_output=True,
        text=True,
        env=worker_env(),
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return first_update(proc.stdout)


def train_two_workers(data, save, dropout):
    port = free_port()
    workers = [
        subprocess.Popen(
            train_command(
                data,
                save,
                dropout,
                "--distributed-world-size",
                "2",
                "--distributed-rank",
                str(rank),
                "--distributed-init-method",
                f"tcp://127.0.0.1:{port}",
                "--distributed-no-spawn",
                "--distributed-backend",
                "gloo",
                "--ddp-backend",
                "legacy_ddp",
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=worker_env(),
        )
        for rank in (0, 1)
    ]
    outputs = []
    try:
        for worker in workers:
            outputs.append(worker.communicate(timeout=300)[0])
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    for worker, output in zip(workers, outputs):
        assert worker.returncode == 0, output[-3000:]
    assert "distributed init (rank 0)" in outputs[0]
    return first_update(outputs[0])  # rank 0 logs the all-reduced metrics


def model_params(path):
    return torch.load(path, map_location="cpu", weights_only=False)["model"]


def test_two_cpu_workers_log_and_learn_what_one_process_does(data):
    single = train_single(data, data / "single", dropout=0.0)
    parallel = train_two_workers(data, data / "parallel", dropout=0.0)
    for key in ("loss", "nll_loss", "kl_loss", "gnorm", "wpb", "bsz"):
        assert parallel[key] == pytest.approx(single[key], rel=1e-3, abs=1e-3), key
    assert single["kl_loss"] == 0.0  # no dropout, identical passes

    one, two = (
        model_params(data / "single" / "checkpoint_last.pt"),
        model_params(data / "parallel" / "checkpoint_last.pt"),
    )
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], rtol=1e-4, atol=1e-5, msg=name)


def test_two_cpu_workers_log_a_positive_kl_with_dropout(data):
    parallel = train_two_workers(data, data / "parallel-dropout", dropout=0.3)
    assert parallel["kl_loss"] > 0
    assert parallel["loss"] > parallel["nll_loss"] > 0
