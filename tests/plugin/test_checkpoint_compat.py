"""fairseq checkpoints (which pickle argparse.Namespace, numpy and omegaconf
objects) load under torch >= 2.6 once the plugin is imported, while every
other torch.load keeps torch's safe default."""

import argparse
import os

import numpy as np
import pytest
import torch
from omegaconf import OmegaConf

import rdrop_fairseq  # noqa: F401  (installs the fix)
from rdrop_fairseq.checkpoint_compat import trusted_fairseq_load


@pytest.fixture
def checkpoint(tmp_path):
    path = str(tmp_path / "checkpoint.pt")
    # what fairseq-train pickles: a Namespace, numpy scalars, omegaconf containers
    state = {
        "args": None,
        "cfg": OmegaConf.create({"task": {"_name": "rdrop_translation"}}),
        "optimizer_history": [
            {
                "criterion_name": "x",
                "optimizer_name": "adam",
                "lr_scheduler_state": {"best": np.float64(34.6)},
                "num_updates": 8,
            }
        ],
        "extra_state": {"train_iterator": {"epoch": 1}, "namespace": argparse.Namespace(arch="transformer")},
        "model": {"w": torch.ones(2)},
    }
    torch.save(state, path)
    return path


def test_plain_torch_load_refuses_a_fairseq_checkpoint(checkpoint):
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    with pytest.raises(Exception, match="weights_only|WeightsUnpickler"):
        torch.load(checkpoint)


def test_fairseq_loader_reads_it_without_any_environment_variable(checkpoint):
    from fairseq import checkpoint_utils

    state = checkpoint_utils.load_checkpoint_to_cpu(checkpoint)
    assert state["extra_state"]["namespace"].arch == "transformer" and torch.equal(
        state["model"]["w"], torch.ones(2)
    )
    assert "TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD" not in os.environ
    with pytest.raises(Exception, match="weights_only|WeightsUnpickler"):
        torch.load(checkpoint)  # the guard is back for everyone else


def test_override_is_scoped_and_restores_a_user_setting(monkeypatch):
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0")
    with trusted_fairseq_load():
        assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "1"
    assert os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] == "0"


def test_install_is_idempotent():
    from fairseq import checkpoint_utils
    from fairseq.distributed import utils as dist_utils

    from rdrop_fairseq import checkpoint_compat

    before = checkpoint_utils.load_checkpoint_to_cpu
    checkpoint_compat.install()
    assert checkpoint_utils.load_checkpoint_to_cpu is before
    assert getattr(dist_utils._broadcast_object_slow, "_rdrop_trusted", False)
