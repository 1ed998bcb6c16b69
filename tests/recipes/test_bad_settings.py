"""Recipe settings a user gets wrong, through the front doors (``main(argv)`` in-process):
a count of 0, a value against its meaning, an unknown or misspelt key, the README's
R-Drop option, a colon or another language pair in ``--data``, a save dir of other
settings. Each ends in one ``<prog>: error:`` line naming the fix (status 2, no traceback,
nothing written) or does what the user meant."""

import dataclasses
import os

import pytest
from toy_corpus import fake_data_bin

from rdrop_recipes import evaluate, finetune_cnndm, finetune_glue, train
from rdrop_recipes.config import declarations
from rdrop_recipes.config.recipe_config import REPO_ROOT as REPO
from rdrop_recipes.folders import run_dirs

IWSLT = os.path.join(REPO, "configs", "train-iwslt14.toml")
WMT = os.path.join(REPO, "configs", "train-wmt14.toml")
IWSLT_EVAL = os.path.join(REPO, "configs", "evaluate-iwslt14.toml")


def status_of(main, argv):
    """``main``'s exit status; argparse's usage errors arrive as SystemExit."""
    try:
        return main([str(arg) for arg in argv])
    except SystemExit as stop:
        return stop.code


def one_error_line(stderr, prog):
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and errors[0].startswith(f"{prog}: error: "), stderr
    return errors[0]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A fresh current folder (the recipes' default save dirs are relative) with IWSLT- and
    WMT-shaped data."""
    monkeypatch.chdir(tmp_path)
    fake_data_bin(tmp_path / "de-en", "de", "en")
    fake_data_bin(tmp_path / "en-de", "en", "de")
    return tmp_path


def refused(capsys, main, prog, argv, *wanted):
    """``main(argv)`` ends in status 2 with one error line holding every ``wanted``; the line."""
    status = status_of(main, argv)
    line = one_error_line(capsys.readouterr().err, prog)
    assert status == 2, line
    for text in wanted:
        assert text in line
    return line


def nothing_written(folder):
    names = {name for name in os.listdir(folder) if name not in ("de-en", "en-de")}
    assert not names, names


# -- counts of 0 (and other falsy values) are mistakes, never "not given" ------------------------

WMT_JOB = ["--config", WMT, "--data", "en-de", "--slurm-nodes", "1", "--gpus-per-node", "8"]
IWSLT_HERE = ["--config", IWSLT, "--data", "de-en", "--device", "cpu"]


@pytest.mark.parametrize(
    "argv, wanted",
    [
        # trained Transformer-big on this CPU before (--dry-run: a regression prints its plan)
        (
            ["--config", WMT, "--data", "en-de", "--slurm-nodes", "0", "--gpus-per-node", "8", "--dry-run"],
            ">= 1",
        ),
        # wrote --update-freq 0 into the sbatch script before
        ([*WMT_JOB, "--set", "update_freq=0"], '"auto" or an integer >= 1'),
        ([*WMT_JOB, "--set", "tokens_per_update=0"], "tokens_per_update"),
        ([*WMT_JOB, "--slurm-partition", ""], "--slurm-partition"),
        ([*IWSLT_HERE, "--set", "max_tokens=0"], "max_tokens"),
        ([*IWSLT_HERE, "--set", "variants.doubled-batch.max_tokens=0"], "max_tokens"),
        ([*IWSLT_HERE, "--reg-passes", "1"], "--reg-passes"),
        ([*IWSLT_HERE, "--reg-every", "0"], "--reg-every"),
        ([*IWSLT_HERE, "--master-port", "0"], "--master-port"),
    ],
)
def test_a_count_of_zero_is_refused_not_taken_as_not_given(workdir, capsys, argv, wanted):
    refused(capsys, train.main, "train", argv, wanted)
    nothing_written(workdir)


# -- values checked against their meaning, before any work -----------------------------------


@pytest.mark.parametrize(
    "argv, wanted",
    [
        (["--set", "lr=-1"], "lr (the learning rate) must be a number > 0"),
        (["--set", "update_freq=atuo"], "update_freq"),  # a ValueError traceback before
        (["--set", "dropout=1.5"], "number in [0, 1)"),
        (["--set", "precision=fp8"], "one of auto, fp16, bf16, fp32"),
        (["--set", "device=gpu"], "one of auto, cpu, cuda"),
        (["--set", "share_all_embeddings=maybe"], "yes/no"),
        (["--set", "reg_cutoff_type=tokens"], "one of none, token, span, dimension"),
        (["--reg-alpha", "-1"], "--reg-alpha"),
        (["--reg-dropouts", "0.1"], "p1,p2"),
        (["--set", "save_dir=ck/{varaint}"], "only {variant} and {name}"),  # a KeyError traceback before
        (["--set", "save_dir="], "a path, not empty"),
        (["--slurm-time", "tomorrow"], "D-HH:MM:SS"),
        (["--slurm-time", "4"], "requeues itself"),  # signalled at its start: requeued forever
        (["--slurm-option", "constraint=a100"], "--slurm-option=--constraint=a100"),
    ],
)
def test_a_value_against_its_meaning_is_one_error(workdir, capsys, argv, wanted):
    refused(capsys, train.main, "train", [*WMT_JOB, *argv, "--dry-run"], wanted)
    nothing_written(workdir)


@pytest.mark.parametrize(
    "main, prog, argv, wanted",
    [
        (evaluate.main, "evaluate", ["--config", IWSLT_EVAL, "--data", "de-en", "--set", "beam=0"], "beam"),
        (evaluate.main, "evaluate", ["--config", IWSLT_EVAL, "--set", "lenpen=x"], "expected a number"),
        (finetune_glue.main, "finetune-glue", ["RTE", "--set", "lr=-1e-5", "--dry-run"], "lr"),
        (
            finetune_glue.main,
            "finetune-glue",
            ["RTE", "--set", "tasks.RTE.batch_size=0", "--dry-run"],
            "batch_size",
        ),
        (finetune_cnndm.main, "finetune-cnndm", ["--set", "update_freq=0", "--dry-run"], "update_freq"),
    ],
)
def test_the_other_front_doors_check_the_same_declarations(workdir, capsys, main, prog, argv, wanted):
    refused(capsys, main, prog, argv, wanted)
    nothing_written(workdir)


def plan_output(capsys, *argv):
    assert (
        status_of(train.main, ["--config", IWSLT, "--data", "de-en", "--device", "cpu", "--dry-run", *argv])
        == 0
    )
    return capsys.readouterr().out


def test_switches_take_the_usual_spellings_and_off_turns_tensorboard_off(workdir, capsys):
    out = plan_output(capsys, "--set", "tensorboard=false")
    assert "--tensorboard-logdir" not in out  # logged into <save_dir>/false/ before
    out = plan_output(capsys, "--set", "tensorboard=off", "--set", "log_file=no")
    assert "--tensorboard-logdir" not in out and "log in" not in out
    out = plan_output(capsys, "--set", "eval_bleu=no", "--set", "share_all_embeddings=yes")
    assert "--eval-bleu " not in out and "--share-all-embeddings" in out
    nothing_written(workdir)


# -- unknown keys, and the README's R-Drop option ------------------------------------------------


def test_an_unknown_key_says_what_was_meant_in_a_short_line(workdir, capsys):
    line = refused(capsys, train.main, "train", ["--config", IWSLT, "--set", "lrr=1e-3"], "did you mean lr?")
    assert len(line) < 200, line  # every key of the config on one ~950-character line before
    line = refused(
        capsys, train.main, "train", ["--config", IWSLT, "--set", "xyzzy=1"], "config file lists them"
    )
    assert len(line) < 200, line
    refused(
        capsys,
        train.main,
        "train",
        ["--config", IWSLT, "--set", "varaints.rdrop.lr=1"],
        "did you mean variants?",
    )


def test_the_readmes_rdrop_option_is_settable_where_the_config_lacks_it(workdir, capsys):
    # README: "--set reg_cutoff_decoder=true adds that" to the rdrop-cutoff variant
    out = plan_output(capsys, "--variant", "rdrop-cutoff", "--set", "reg_cutoff_decoder=true")
    assert "--reg-cutoff-decoder" in out and "--reg-cutoff-type token" in out
    out = plan_output(capsys, "--variant", "rdrop-cutoff", "--set", "fairseq.reg_task_loss=first-copy")
    assert "--reg-task-loss first-copy" in out
    # fairseq's own criterion does not know it: one line, not fairseq's usage message
    argv = ["--config", IWSLT, "--data", "de-en", "--variant", "baseline", "--set", "reg_cutoff_decoder=true"]
    refused(capsys, train.main, "train", argv, "reg_cutoff_decoder: R-Drop option", "--variant rdrop")
    nothing_written(workdir)


def test_the_declared_rdrop_options_are_the_plugins():
    from rdrop_fairseq.criterions.rdrop_options import RDropOptions

    # fairseq's dataclasses carry their own "_name"
    plugin = {f.name for f in dataclasses.fields(RDropOptions) if not f.name.startswith("_")}
    assert set(declarations.RDROP_OPTIONS) == plugin


# -- data folders: a colon, another language pair --------------------------------------------------


def test_data_folder_mistakes_name_their_cause(workdir, capsys):
    os.rename("de-en", "de:en")
    refused(capsys, train.main, "train", ["--config", IWSLT, "--data", "de:en"], "shard separator")
    os.rename("de:en", "de-en")
    # en-fr data under the de-en recipe: "no train split, run prepare first" before
    fake_data_bin(workdir / "fr", "en", "fr")
    line = refused(capsys, train.main, "train", ["--config", IWSLT, "--data", "fr"], "en-fr, not de-en")
    assert "--set source_lang=" in line
    assert not os.path.exists("checkpoints")


# -- a save dir of other settings: the keys that changed, not everything ----------------------------


def test_the_refusal_of_other_settings_names_the_changed_keys_briefly(workdir, capsys):
    save = workdir / "ck"
    save.mkdir()
    (save / "checkpoint_last.pt").write_bytes(b"an earlier run")
    # a run of another recipe: dozens of settings differ
    other = {"fairseq": {f"key{i}": "x" * 100 for i in range(30)}, "distributed": {}, "run": {}}
    run_dirs.record(str(save), other, "python -m fairseq_cli.train " + "--flag value " * 60)
    argv = ["--config", IWSLT, "--data", "de-en", "--save-dir", save, "--device", "cpu", "--dry-run"]
    line = refused(capsys, train.main, "train", argv, "other settings", "more", "--allow-changed-settings")
    assert len(line) < 700 and "--flag value" not in line, line
