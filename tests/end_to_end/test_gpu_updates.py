"""What only a GPU can show (issue 22): R-Drop through ``fairseq-train --fp16`` and
``--bf16`` (fairseq's half-precision trainer needs CUDA), and R-Drop's peak CUDA memory
against the doubled batch it replaces. Marked ``gpu``: ``pytest -m gpu`` (as
scripts/gpu-check.sh runs it) selects them, and without a GPU they skip with the reason."""

import math
import os
import sys
from concurrent.futures import ThreadPoolExecutor

import pytest
from conftest import REPO, cuda_only
from fairseq_commands import metric_series, run, train_cmd

sys.path.insert(0, os.path.join(REPO, "benchmarks"))
from common import run_child  # noqa: E402  (benchmarks/common.py: one fresh process per measurement)

HALF_FLAGS = [pytest.param("--fp16", id="fp16"), pytest.param("--bf16", id="bf16")]


@cuda_only
@pytest.mark.slow
@pytest.mark.parametrize("precision", HALF_FLAGS)
def test_one_rdrop_update_in_half_precision_through_fairseq_train(data_bin, tmp_path, precision):
    """A few R-Drop updates of the quickstart's tiny model on the GPU: each logged loss is
    finite and the consistency term (kl_loss) is logged and positive."""
    cmd = train_cmd(
        data_bin,
        str(tmp_path / "ckpt"),
        precision,
        "--log-interval",
        "1",
        "--no-save",
        "--disable-validation",
        updates=3,
    )
    cmd.remove("--cpu")
    log = run(cmd, cwd=tmp_path).stdout
    losses = metric_series(log, "train_inner", "loss")
    kls = metric_series(log, "train_inner", "kl_loss")
    # fp16's loss scaler may skip an update that overflowed; at least one must be taken
    assert losses and len(kls) == len(losses), log[-3000:]
    assert all(math.isfinite(x) for x in losses + kls) and all(k > 0 for k in kls)


def peak_bytes(config, dtype):
    """One configuration's CUDA max_memory_allocated over two updates, measured by the
    update benchmark in a process of its own (transformer_iwslt_de_en, V=10000, T=2048)."""
    argv = ["benchmarks/bench_updates.py", "--child", config, "--device", "cuda", "--dtype", dtype]
    argv += ["--preset", "iwslt", "--tokens", "2048", "--vocab", "10000", "--sent-len", "32"]
    return run_child(argv + ["--mem-updates", "2"])["peak_bytes"]


@cuda_only
@pytest.mark.slow
def test_rdrop_peak_memory_is_at_most_the_doubled_batchs():
    """R-Drop's one forward over [x; x] is the doubled batch's work, and its fused loss
    head keeps no [2T, V] fp32 log-probabilities: its peak is no higher, in fp16 and bf16.
    The four processes run side by side: each measures its own allocator."""
    cases = [(config, dtype) for dtype in ("fp16", "bf16") for config in ("rdrop@T", "ls@2T")]
    with ThreadPoolExecutor(len(cases)) as pool:
        peaks = dict(zip(cases, pool.map(lambda case: peak_bytes(*case), cases)))
    for dtype in ("fp16", "bf16"):
        rdrop, doubled = peaks[("rdrop@T", dtype)], peaks[("ls@2T", dtype)]
        assert rdrop <= doubled, (
            f"{dtype}: R-Drop {rdrop / 2**20:.0f} MiB > doubled {doubled / 2**20:.0f} MiB"
        )
