"""The training recipes: the fairseq-train command a config turns into (paper
values, variants, overrides, precision, WMT batch arithmetic), clean errors,
and one real run of scripts/train-iwslt14.sh on the toy corpus."""

import os
import sys

import pytest
from toy_corpus import TOY_RECIPE, binarized, run_script, sets, tiny_arch

from rdrop_recipes import train
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR
from rdrop_recipes.process.errors import RecipeError
from rdrop_recipes.training.hardware import Hardware
from rdrop_recipes.training.plan import build_plan, update_freq_for

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IWSLT = os.path.join(REPO, "configs", "train-iwslt14.toml")
WMT = os.path.join(REPO, "configs", "train-wmt14.toml")
CPU = Hardware("cpu")
TINY_ARCH = tiny_arch(layers=2, dim=64, heads=4)


@pytest.fixture
def data_dir(tmp_path):
    # a folder that passes the "is this fairseq-preprocess output" check: dictionaries and
    # the train and valid binaries (empty: nothing here reads them)
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dict.de.txt").write_text("")
    for split in ("train", "valid"):
        for lang in ("de", "en"):
            for ext in ("bin", "idx"):
                (tmp_path / "bin" / f"{split}.de-en.{lang}.{ext}").write_bytes(b"")
    return str(tmp_path / "bin")


def plan_for(argv, hardware=CPU):
    return build_plan(train.parse_args(argv), hardware)


def value(command, flag):
    assert command.count(flag) >= 1, f"{flag} missing from {command}"
    return command[len(command) - 1 - command[::-1].index(flag) + 1]


def test_iwslt_command_has_the_paper_hyperparameters(data_dir):
    cmd = plan_for(["--config", IWSLT, "--data", data_dir]).command
    assert cmd[1:4] == ["-m", "fairseq_cli.train", data_dir]
    expected = {
        "--arch": "transformer_iwslt_de_en",
        "--task": "rdrop_translation",
        "--criterion": "reg_label_smoothed_cross_entropy",
        "--reg-alpha": "5.0",
        "--adam-betas": "(0.9, 0.98)",
        "--lr": "0.0005",
        "--lr-scheduler": "inverse_sqrt",
        "--warmup-updates": "4000",
        "--warmup-init-lr": "1e-07",
        "--label-smoothing": "0.1",
        "--dropout": "0.3",
        "--weight-decay": "0.0001",
        "--max-tokens": "4096",
        "--eval-bleu-args": '{"beam": 5, "max_len_a": 1.2, "max_len_b": 10}',
        "--eval-bleu-detok": "moses",
        "--best-checkpoint-metric": "bleu",
        "--user-dir": PLUGIN_DIR,
        "--distributed-world-size": "1",
    }
    for flag, want in expected.items():
        assert value(cmd, flag) == want, flag
    for switch in (
        "--share-all-embeddings",
        "--eval-bleu",
        "--eval-bleu-remove-bpe",
        "--maximize-best-checkpoint-metric",
        "--cpu",
    ):
        assert switch in cmd
    assert "--fp16" not in cmd and "--bf16" not in cmd


@pytest.mark.parametrize(
    "hardware,flag",
    [
        (Hardware("cuda", 1, bf16=True), "--bf16"),
        (Hardware("cuda", 1, bf16=False), "--fp16"),
    ],
)
def test_half_precision_follows_the_gpu(data_dir, hardware, flag):
    cmd = plan_for(["--config", IWSLT, "--data", data_dir], hardware).command
    assert flag in cmd and "--cpu" not in cmd
    cmd = plan_for(["--config", IWSLT, "--data", data_dir, "--set", "precision=fp32"], hardware).command
    assert "--fp16" not in cmd and "--bf16" not in cmd


def test_variants(data_dir):
    base = plan_for(["--config", IWSLT, "--data", data_dir, "--variant", "baseline"])
    assert value(base.command, "--task") == "translation"
    assert value(base.command, "--criterion") == "label_smoothed_cross_entropy"
    assert "--reg-alpha" not in base.command
    assert value(base.command, "--max-tokens") == "4096"
    assert base.save_dir == "checkpoints/iwslt14-baseline"

    doubled = plan_for(["--config", IWSLT, "--data", data_dir, "--variant", "doubled-batch"]).command
    assert value(doubled, "--criterion") == "label_smoothed_cross_entropy"
    assert value(doubled, "--max-tokens") == "8192"

    no_kl = plan_for(["--config", IWSLT, "--data", data_dir, "--variant", "no-kl"]).command
    assert value(no_kl, "--criterion") == "reg_label_smoothed_cross_entropy"
    assert value(no_kl, "--reg-alpha") == "0.0"

    with pytest.raises(RecipeError, match="unknown variant"):
        plan_for(["--config", IWSLT, "--data", data_dir, "--variant", "nope"])


def test_ablation_flags_pass_through_and_need_rdrop(data_dir):
    cmd = plan_for(
        [
            "--config",
            IWSLT,
            "--data",
            data_dir,
            "--reg-passes",
            "3",
            "--reg-every",
            "2",
            "--reg-kl-direction",
            "unidirectional",
            "--reg-dropouts",
            "0.1,0.3",
            "--reg-alpha",
            "1",
        ]
    ).command
    assert value(cmd, "--reg-passes") == "3" and value(cmd, "--reg-every") == "2"
    assert value(cmd, "--reg-kl-direction") == "unidirectional"
    assert value(cmd, "--reg-dropouts") == "0.1,0.3" and value(cmd, "--reg-alpha") == "1.0"
    with pytest.raises(RecipeError, match="--reg-passes: R-Drop option"):
        plan_for(["--config", IWSLT, "--data", data_dir, "--variant", "baseline", "--reg-passes", "3"])


def test_overrides_and_passthrough(data_dir, tmp_path):
    plan = plan_for(
        [
            "--config",
            IWSLT,
            "--data",
            data_dir,
            "--set",
            "lr=7e-4",
            "--set",
            "dropout=false",
            "--set",
            "seed=3",
            "--save-dir",
            str(tmp_path / "ck"),
            "--",
            "--max-epoch",
            "2",
        ]
    )
    cmd = plan.command
    assert value(cmd, "--lr") == "0.0007" and value(cmd, "--seed") == "3"
    assert "--dropout" not in cmd
    assert cmd[-2:] == ["--max-epoch", "2"]  # last, so fairseq lets them win
    assert value(cmd, "--save-dir") == str(tmp_path / "ck")
    assert "--log-file" not in cmd  # fairseq's would repeat each line once per epoch so far
    assert plan.log_file == str(tmp_path / "ck" / "train.log")
    # --set beats the variant too
    cmd = plan_for(
        ["--config", IWSLT, "--data", data_dir, "--variant", "doubled-batch", "--set", "max_tokens=2048"]
    ).command
    assert value(cmd, "--max-tokens") == "2048"
    with pytest.raises(RecipeError, match="unknown key"):
        plan_for(["--config", IWSLT, "--data", data_dir, "--set", "learning_rate=1"])
    with pytest.raises(RecipeError, match="key=value"):
        plan_for(["--config", IWSLT, "--data", data_dir, "--set", "lr"])


@pytest.mark.parametrize("gpus,expected", [(1, 128), (2, 64), (8, 16), (16, 8), (128, 1)])
def test_wmt_update_freq_keeps_the_reference_tokens_per_update(gpus, expected):
    assert update_freq_for(524288, gpus, 4096) == expected
    assert gpus * 4096 * expected == 8 * 4096 * 16


@pytest.mark.parametrize("gpus", [3, 6, 256])
def test_wmt_update_freq_refuses_what_does_not_divide(gpus):
    with pytest.raises(RecipeError, match="does not divide"):
        update_freq_for(524288, gpus, 4096)


def test_wmt_command_on_one_node_and_on_two(data_dir):
    node = Hardware("cuda", 8, bf16=False)
    plan = plan_for(["--config", WMT, "--data", data_dir], node)
    cmd = plan.command
    assert value(cmd, "--arch") == "transformer_vaswani_wmt_en_de_big"
    assert value(cmd, "--update-freq") == "16" and value(cmd, "--max-tokens") == "4096"
    for flag, want in {
        "--lr": "0.001",
        "--warmup-updates": "6000",
        "--dropout": "0.1",
        "--attention-dropout": "0.1",
        "--activation-dropout": "0.1",
    }.items():
        assert value(cmd, flag) == want
    assert "--fp16" in cmd and cmd[0] == sys.executable

    doubled = plan_for(["--config", WMT, "--data", data_dir, "--variant", "doubled-batch"], node).command
    assert value(doubled, "--max-tokens") == "8192" and value(doubled, "--update-freq") == "16"

    two = plan_for(
        [
            "--config",
            WMT,
            "--data",
            data_dir,
            "--nnodes",
            "2",
            "--node-rank",
            "1",
            "--master-addr",
            "10.0.0.1",
        ],
        node,
    ).command
    assert two[:2] == ["torchrun", "--nnodes"] and value(two, "--nproc_per_node") == "8"
    assert value(two, "--node_rank") == "1" and value(two, "-m") == "fairseq_cli.train"
    assert value(two, "--distributed-world-size") == "16" and value(two, "--update-freq") == "8"

    with pytest.raises(RecipeError, match="does not divide"):
        plan_for(["--config", WMT, "--data", data_dir], Hardware("cuda", 6))
    with pytest.raises(RecipeError, match="--master-addr"):
        plan_for(["--config", WMT, "--data", data_dir, "--nnodes", "2"], node)


def test_missing_data_folder_is_one_clear_line(tmp_path):
    proc = run_script("train-iwslt14.sh", "--data", str(tmp_path / "absent"), "--dry-run")
    assert proc.returncode == 2
    last = proc.stderr.strip().splitlines()[-1]
    assert last == (
        f"train: error: data folder '{tmp_path / 'absent'}' not found; "
        "run scripts/prepare-iwslt14.sh first or pass --data DIR"
    )
    assert "Traceback" not in proc.stderr


def test_dry_run_through_the_script_prints_and_runs_nothing(data_dir, tmp_path):
    proc = run_script("train-iwslt14.sh", "--data", data_dir, "--save-dir", str(tmp_path / "ck"), "--dry-run")
    assert proc.returncode == 0, proc.stderr
    assert "fairseq_cli.train" in proc.stdout and "--reg-alpha 5.0" in proc.stdout
    assert not (tmp_path / "ck").exists()


@pytest.mark.slow
def test_train_iwslt_script_end_to_end_on_the_toy_corpus(tmp_path):
    save = tmp_path / "ck"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    data = binarized(str(tmp_path), train=500)
    proc = run_script(
        "train-iwslt14.sh",
        "--data",
        data,
        "--save-dir",
        str(save),
        *sets(**TOY_RECIPE, lr=5e-3, log_interval=2, max_tokens=1024, dropout=0.1),
        "--",
        *TINY_ARCH,
        "--no-epoch-checkpoints",
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "train: " in proc.stdout and "fairseq_cli.train" in proc.stdout
    assert (save / "checkpoint_best.pt").is_file() and (save / "checkpoint_last.pt").is_file()
    log = (save / "train.log").read_text()
    inner = [line for line in log.splitlines() if "num_updates=" in line]
    assert inner and all("kl_loss=" in line for line in inner)
    assert "valid on 'valid' subset" in log and "| bleu " in log
