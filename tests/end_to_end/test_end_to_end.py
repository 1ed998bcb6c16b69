"""The plugin through fairseq's own command lines, as a user runs it:
fairseq-preprocess -> fairseq-train --user-dir rdrop_fairseq -> fairseq-generate,
on a synthetic corpus the test writes, with no environment variables."""

import os
import re

import pytest
from fairseq_commands import BIN, metric_series, run, train_cmd

from rdrop_recipes.toy.task import toy_generate

pytestmark = pytest.mark.slow


def test_train_with_kl_then_generate_and_score(data_bin, tmp_path):
    save = str(tmp_path / "ckpt")
    proc = run(
        train_cmd(data_bin, save, "--reg-alpha", "5", bleu_every=5),
        cwd=tmp_path,
    )
    log = proc.stdout + proc.stderr
    losses = metric_series(log, "train_inner", "loss")
    kls = metric_series(log, "train_inner", "kl_loss")
    assert len(losses) >= 20 and len(kls) == len(losses)
    assert losses[-1] < 0.5 * losses[0]
    assert all(k > 0 for k in kls)
    assert metric_series(log, "valid", "bleu"), "--eval-bleu ran during validation"
    print("\n".join(line for line in log.splitlines() if "| train |" in line or "| valid |" in line))

    gen = run(
        [
            f"{BIN}/fairseq-generate",
            data_bin,
            *toy_generate(os.path.join(save, "checkpoint_best.pt")),
        ],
        cwd=tmp_path,
    )
    out = gen.stdout + gen.stderr
    assert "WeightsUnpickler" not in out
    bleu = float(re.search(r"BLEU4 = ([\d.]+)", out).group(1))
    hyps = [l for l in gen.stdout.splitlines() if l.startswith("H-")]
    assert len(hyps) == 100
    print(re.search(r"Generate test.*", out).group(0))
    assert bleu > 20.0


@pytest.mark.parametrize(
    "variant",
    [
        ["--reg-passes", "3"],
        ["--reg-kl-direction", "unidirectional"],
        ["--reg-every", "3"],
        ["--reg-dropouts", "0.1,0.3"],
        ["--reg-alpha", "0"],
    ],
)
def test_variants_train_end_to_end(data_bin, tmp_path, variant):
    proc = run(
        train_cmd(
            data_bin,
            str(tmp_path / "ckpt"),
            *variant,
            "--log-interval",
            "1",
            "--no-save",
            "--disable-validation",
            updates=9,
        ),
        cwd=tmp_path,
    )
    log = proc.stdout + proc.stderr
    inner = [l for l in log.splitlines() if "| train_inner |" in l]
    assert len(inner) == 9
    # fairseq prints a meter left empty in an interval as None
    with_kl = [bool(re.search(r"kl_loss=\d", l)) for l in inner]
    if variant[0] == "--reg-every":
        assert with_kl == [True, False, False] * 3  # updates 0, 3, 6 of 0..8
    else:
        assert all(with_kl)


@pytest.mark.parametrize(
    "flags,task,message",
    [
        (["--reg-alpha", "-1"], "rdrop_translation", "--reg-alpha must be a finite number >= 0"),
        ([], "translation", "needs --task rdrop_translation"),
    ],
)
def test_bad_configuration_exits_with_one_clear_line(data_bin, tmp_path, flags, task, message):
    cmd = train_cmd(data_bin, str(tmp_path / "ckpt"), *flags, updates=1)
    cmd[cmd.index("--task") + 1] = task
    proc = run(cmd, cwd=tmp_path, check=False)
    assert proc.returncode != 0
    errors = [line for line in proc.stderr.splitlines() if line.startswith("rdrop_fairseq: error: ")]
    assert len(errors) == 1 and message in errors[0]
    assert "Traceback" not in proc.stderr
