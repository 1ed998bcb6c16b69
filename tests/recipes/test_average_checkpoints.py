"""Checkpoint averaging: the mean of fabricated state dicts, computed by hand,
and which files "the last N" means."""

import os
import subprocess
import sys

import pytest
import torch

from rdrop_recipes import average_checkpoints as avg
from rdrop_recipes.evaluation import checkpoint_averaging
from rdrop_recipes.fairseq_io import checkpoint_files
from rdrop_recipes.process.errors import RecipeError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def fake_checkpoint(path, w, b, steps, tag):
    state = {
        "model": {
            "encoder.w": torch.tensor(w, dtype=torch.float32),
            "decoder.b": torch.tensor(b, dtype=torch.float16),
            "encoder.version": torch.tensor([steps], dtype=torch.int64),
        },
        "cfg": {"tag": tag},
        "optimizer_history": [{"num_updates": steps}],
        "extra_state": {"train_iterator": {"epoch": steps // 100}},
    }
    torch.save(state, path)
    return state


def test_average_is_the_hand_computed_mean_and_keeps_the_newest_rest(tmp_path):
    old = tmp_path / "checkpoint_1_100.pt"
    new = tmp_path / "checkpoint_2_200.pt"
    fake_checkpoint(old, [[1.0, 2.0], [3.0, 4.0]], [0.5, -1.0], 100, "old")
    fake_checkpoint(new, [[3.0, 6.0], [-3.0, 0.0]], [1.5, 2.0], 200, "new")
    out = tmp_path / "averaged.pt"
    # newest named first on purpose: "newest" comes from the update number, not the order
    assert avg.main(["--inputs", str(new), str(old), "--output", str(out)]) == 0

    result = torch.load(out, weights_only=False)
    assert torch.equal(result["model"]["encoder.w"], torch.tensor([[2.0, 4.0], [0.0, 2.0]]))
    assert result["model"]["decoder.b"].dtype == torch.float16
    assert torch.equal(result["model"]["decoder.b"], torch.tensor([1.0, 0.5], dtype=torch.float16))
    assert result["model"]["encoder.version"].tolist() == [200]  # integers are not averaged
    assert result["cfg"] == {"tag": "new"}
    assert result["optimizer_history"] == [{"num_updates": 200}]
    # no temporary file left beside it
    assert sorted(os.listdir(tmp_path)) == ["averaged.pt", "checkpoint_1_100.pt", "checkpoint_2_200.pt"]


def test_mean_of_three_in_float64(tmp_path):
    paths = []
    for i, value in enumerate([0.1, 0.2, 0.4]):
        path = tmp_path / f"checkpoint_{i}_{(i + 1) * 10}.pt"
        fake_checkpoint(path, [value], [value], (i + 1) * 10, str(i))
        paths.append(str(path))
    state = checkpoint_averaging.average_checkpoints(paths)
    assert state["model"]["encoder.w"].item() == pytest.approx((0.1 + 0.2 + 0.4) / 3, rel=1e-7)
    assert state["cfg"] == {"tag": "2"}


def test_last_n_by_update_number_not_by_name_order(tmp_path):
    for name in (
        "checkpoint_1_100.pt",
        "checkpoint_3_1000.pt",
        "checkpoint_2_300.pt",
        "checkpoint_best.pt",
        "checkpoint_last.pt",
        "checkpoint7.pt",
    ):
        (tmp_path / name).write_bytes(b"")
    picked = [os.path.basename(p) for p in checkpoint_files.last_checkpoints(str(tmp_path), 2)]
    assert picked == ["checkpoint_2_300.pt", "checkpoint_3_1000.pt"]


def test_last_n_by_epoch_where_there_are_no_update_checkpoints(tmp_path):
    for name in ("checkpoint1.pt", "checkpoint10.pt", "checkpoint2.pt", "checkpoint_best.pt"):
        (tmp_path / name).write_bytes(b"")
    picked = [os.path.basename(p) for p in checkpoint_files.last_checkpoints(str(tmp_path), 2)]
    assert picked == ["checkpoint2.pt", "checkpoint10.pt"]
    with pytest.raises(RecipeError, match="has 3 checkpoint<epoch>.pt file"):
        checkpoint_files.last_checkpoints(str(tmp_path), 4)


def test_checkpoints_of_different_models_are_refused(tmp_path):
    a, b = tmp_path / "checkpoint_1_1.pt", tmp_path / "checkpoint_1_2.pt"
    fake_checkpoint(a, [1.0], [1.0], 1, "a")
    state = fake_checkpoint(b, [1.0], [1.0], 2, "b")
    state["model"]["extra.layer"] = torch.zeros(1)
    torch.save(state, b)
    with pytest.raises(RecipeError, match="other parameters"):
        checkpoint_averaging.average_checkpoints([str(a), str(b)])


def test_missing_checkpoint_is_a_one_line_error_with_status_2(tmp_path):
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "rdrop_recipes.average_checkpoints",
            "--inputs",
            str(tmp_path / "nope.pt"),
            "--output",
            str(tmp_path / "out.pt"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("average_checkpoints: error: checkpoint") and "nope.pt" in last
    assert "Traceback" not in proc.stderr
