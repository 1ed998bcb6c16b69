"""The WikiText-103 language-modeling recipes: the fairseq-train commands of
scripts/train-wikitext103.sh (paper values, variants, the adaptive-input
config, --cpu, --reg-* pass-through), and a tiny CPU run through the real
scripts (prepare -> train -> evaluate-lm) on a fabricated wikitext-103-v1.zip."""

import json
import math
import os
import re
import subprocess

import fabricate_corpora  # noqa: E402
import pytest
import torch

from rdrop_recipes import evaluate_lm, prepare_wikitext103, train  # noqa: E402
from rdrop_recipes.config.recipe_config import REPO_ROOT as REPO  # noqa: E402
from rdrop_recipes.evaluation import perplexity  # noqa: E402
from rdrop_recipes.fairseq_io.plugin_dir import PLUGIN_DIR  # noqa: E402
from rdrop_recipes.process import children  # noqa: E402
from rdrop_recipes.process.errors import RecipeError  # noqa: E402
from rdrop_recipes.training.hardware import Hardware  # noqa: E402
from rdrop_recipes.training.plan import build_plan  # noqa: E402

GPT = os.path.join(REPO, "configs", "train-wikitext103.toml")
ADAPTIVE = os.path.join(REPO, "configs", "train-wikitext103-adaptive.toml")
CPU = Hardware("cpu")
PREPARE_HINT = "run scripts/prepare-wikitext103.sh first or pass --data DIR"


@pytest.fixture
def lm_dir(tmp_path):
    """A folder in the layout fairseq-preprocess --only-source writes."""
    folder = tmp_path / "bin"
    folder.mkdir()
    (folder / "dict.txt").write_text("")
    for split in ("train", "valid"):
        for ext in ("bin", "idx"):
            (folder / f"{split}.{ext}").write_bytes(b"")
    return str(folder)


def plan_for(argv, hardware=CPU):
    return build_plan(train.parse_args(argv), hardware)


def value(command, flag):
    assert flag in command, f"{flag} missing from {command}"
    return command[len(command) - 1 - command[::-1].index(flag) + 1]


def test_gpt_rdrop_has_the_paper_and_fairseq_readme_settings(lm_dir):
    plan = plan_for(["--config", GPT, "--data", lm_dir], Hardware("cuda", 1, bf16=False))
    cmd = plan.command
    expected = {
        "--task": "rdrop_language_modeling",
        "--arch": "transformer_lm_gpt",
        "--criterion": "reg_label_smoothed_cross_entropy",
        "--reg-alpha": "1.0",
        "--label-smoothing": "0.0",
        "--tokens-per-sample": "512",
        "--sample-break-mode": "none",
        "--dropout": "0.1",
        "--optimizer": "adam",
        "--adam-betas": "(0.9, 0.98)",
        "--weight-decay": "0.01",
        "--lr": "0.0005",
        "--lr-scheduler": "inverse_sqrt",
        "--warmup-updates": "4000",
        "--warmup-init-lr": "1e-07",
        "--max-tokens": "2048",
        "--max-update": "50000",
        # 65536 tokens per update (fairseq's 2 GPUs x 2048 x 16) on one GPU
        "--update-freq": "32",
        "--user-dir": PLUGIN_DIR,
    }
    for flag, want in expected.items():
        assert value(cmd, flag) == want, flag
    assert "--share-decoder-input-output-embed" in cmd and "--fp16" in cmd
    assert plan.save_dir == "checkpoints/wikitext103-rdrop"
    eight = plan_for(["--config", GPT, "--data", lm_dir], Hardware("cuda", 8)).command
    assert value(eight, "--update-freq") == "4"


def test_gpt_baseline_is_fairseqs_cross_entropy(lm_dir):
    plan = plan_for(["--config", GPT, "--data", lm_dir, "--variant", "baseline"])
    cmd = plan.command
    assert value(cmd, "--criterion") == "cross_entropy"
    assert "--reg-alpha" not in cmd and "--label-smoothing" not in cmd
    assert value(cmd, "--arch") == "transformer_lm_gpt" and value(cmd, "--tokens-per-sample") == "512"
    assert plan.save_dir == "checkpoints/wikitext103-baseline"


@pytest.mark.parametrize(
    "variant,criterion", [("rdrop", "reg_label_smoothed_cross_entropy"), ("baseline", "adaptive_loss")]
)
def test_adaptive_input_config_is_fairseqs_adaptive_inputs_command(lm_dir, variant, criterion):
    plan = plan_for(["--config", ADAPTIVE, "--data", lm_dir, "--variant", variant], Hardware("cuda", 8))
    cmd = plan.command
    expected = {
        "--arch": "transformer_lm_wiki103",
        "--criterion": criterion,
        "--optimizer": "nag",
        "--lr": "1.0",
        "--lr-scheduler": "cosine",
        "--t-mult": "2",
        "--lr-period-updates": "270000",
        "--lr-shrink": "0.75",
        "--warmup-updates": "16000",
        "--stop-min-lr": "1e-09",
        "--min-lr": "0.0001",
        "--clip-norm": "0.1",
        "--tokens-per-sample": "3072",
        "--max-tokens": "3072",
        "--update-freq": "3",
        "--max-update": "286000",
        "--ddp-backend": "legacy_ddp",
    }
    for flag, want in expected.items():
        assert value(cmd, flag) == want, flag
    # the arch's own dropout (0.3) and adaptive weights, not the gpt config's
    assert "--dropout" not in cmd and "--share-decoder-input-output-embed" not in cmd
    assert ("--reg-alpha" in cmd) == (variant == "rdrop")
    assert plan.save_dir == f"checkpoints/wikitext103-adaptive-{variant}"


def test_cpu_flag_and_reg_options_pass_through(lm_dir):
    args = train.parse_args(
        ["--config", GPT, "--data", lm_dir, "--cpu", "--reg-alpha", "0.5", "--reg-every", "3"]
    )
    assert args.device == "cpu"
    cmd = plan_for(["--config", GPT, "--data", lm_dir, "--reg-alpha", "0.5", "--reg-every", "3"]).command
    assert value(cmd, "--reg-alpha") == "0.5" and value(cmd, "--reg-every") == "3"
    assert "--cpu" in cmd and "--fp16" not in cmd
    with pytest.raises(RecipeError, match="--reg-alpha.*trains cross_entropy; use --variant rdrop$"):
        plan_for(["--config", GPT, "--data", lm_dir, "--variant", "baseline", "--reg-alpha", "0.5"])


def test_lm_data_folder_checks(tmp_path, lm_dir):
    os.remove(os.path.join(lm_dir, "valid.bin"))
    with pytest.raises(RecipeError, match="no binarized 'valid' split.*prepare-wikitext103"):
        plan_for(["--config", GPT, "--data", lm_dir])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(RecipeError, match="no dict"):
        plan_for(["--config", GPT, "--data", str(empty)])


def run_script(script, *args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(
        ["bash", os.path.join(REPO, "scripts", script), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )


def test_train_script_adaptive_switch_and_passthrough(lm_dir, tmp_path):
    proc = run_script(
        "train-wikitext103.sh", "--adaptive", "--variant", "baseline", "--cpu", "--data", lm_dir,
        "--save-dir", str(tmp_path / "ck"), "--dry-run", "--", "--seed", "7", "--adaptive",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    command = proc.stdout.strip().splitlines()[-1]
    assert "--arch transformer_lm_wiki103" in command and "--criterion adaptive_loss" in command
    # what follows `--` is fairseq's, untouched (even a word the script itself knows)
    assert command.endswith("--cpu --seed 7 --adaptive")
    assert not (tmp_path / "ck").exists()


# -- a tiny real run ---------------------------------------------------------------

TINY = [
    "--set", "max_update=24", "--set", "update_freq=1", "--set", "max_tokens=512",
    "--set", "tokens_per_sample=64", "--set", "warmup_updates=8", "--set", "lr=2e-3",
    "--set", "log_interval=4", "--set", "tensorboard=",
    "--", "--decoder-layers", "2", "--decoder-embed-dim", "32", "--decoder-ffn-embed-dim", "64",
    "--decoder-attention-heads", "2", "--no-epoch-checkpoints",
]  # fmt: skip


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """A fabricated release, prepared by the recipe: (texts, data-bin folder)."""
    root = tmp_path_factory.mktemp("wikitext")
    texts = fabricate_corpora.make_wikitext103_zip(str(root / "wikitext-103-v1.zip"))
    argv = ["--archive", str(root / "wikitext-103-v1.zip"), "--out-dir", str(root / "text")]
    assert prepare_wikitext103.main(argv + ["--data-bin", str(root / "bin"), "--workers", "1"]) == 0
    return texts, str(root / "bin")


def tokens_in(text):
    """fairseq's token count of a text: its words plus one end-of-line token per line."""
    return sum(len(line.split()) + 1 for line in text.split("\n")[:-1])


@pytest.mark.slow
def test_tiny_cpu_train_then_evaluate_writes_finite_perplexities(corpus, tmp_path):
    texts, data = corpus
    save = tmp_path / "ck"
    proc = run_script("train-wikitext103.sh", "--cpu", "--data", data, "--save-dir", str(save), *TINY)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = (save / "train.log").read_text()
    assert "num_updates=24" in log and "kl_loss=" in log  # R-Drop trained the 24 updates
    valid_losses = [float(x) for x in re.findall(r"\| valid \|.*?\| loss ([\d.]+) \|", log)]
    assert valid_losses and (save / "checkpoint_best.pt").exists()

    results = tmp_path / "results"
    common = ["--cpu", "--checkpoint", str(save), "--data", data, "--results-dir", str(results)]
    proc = run_script(
        "evaluate-lm.sh",
        *common,
        "--name",
        "ctx",
        "--set",
        "tokens_per_sample=64",
        "--set",
        "context_window=48",
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_dir,) = [p for p in results.iterdir() if p.name.startswith("ctx-")]
    scores = json.loads((run_dir / "scores.json").read_text())
    for subset in ("valid", "test"):
        ppl = scores["perplexity"][subset]
        assert math.isfinite(ppl) and 1 < ppl < 1000, ppl  # far below the uniform ~ vocabulary size
        assert scores[subset]["tokens"] == tokens_in(texts[subset])  # every token scored once
        assert ppl == pytest.approx(2 ** scores[subset]["loss_base2"], rel=1e-3)
        assert (run_dir / f"eval-lm.{subset}.log").exists()
        assert "--context-window 48" in scores["commands"][subset]
    assert not list(results.glob(".*.partial"))

    # without context, eval-lm scores the blocks fairseq-train validated on:
    # the same loss as the best validation of the training log
    proc = run_script("evaluate-lm.sh", *common, "--name", "noctx", "--subsets", "valid",
                      "--set", "tokens_per_sample=64", "--set", "context_window=0")  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    (run_dir,) = [p for p in results.iterdir() if p.name.startswith("noctx-")]
    scores = json.loads((run_dir / "scores.json").read_text())
    assert scores["valid"]["loss_base2"] == pytest.approx(min(valid_losses), abs=2e-3)
    assert "test" not in scores["perplexity"]


def test_a_truncated_checkpoint_is_refused_before_eval_lm(lm_dir, tmp_path, capsys):
    checkpoint = tmp_path / "checkpoint_best.pt"
    checkpoint.write_bytes(b"")  # an interrupted copy
    argv = [
        "--config",
        os.path.join(REPO, "configs", "evaluate-wikitext103.toml"),
        "--cpu",
        "--subsets",
        "valid",
    ]
    argv += ["--checkpoint", str(checkpoint), "--data", lm_dir, "--results-dir", str(tmp_path / "results")]
    assert evaluate_lm.main(argv) == 2
    assert "is empty (0 bytes" in capsys.readouterr().err
    assert not (tmp_path / "results").exists()  # refused before a results folder was made


@pytest.mark.slow
def test_a_perplexity_of_part_of_the_subset_is_refused(corpus, tmp_path, monkeypatch):
    texts, data = corpus
    assert perplexity.subset_tokens(data, "valid") == tokens_in(texts["valid"])
    checkpoint = tmp_path / "checkpoint_best.pt"
    torch.save({"model": {}}, str(checkpoint))  # what check_checkpoint asks of a fairseq checkpoint

    def skipping_eval_lm(command, stdout, **kwargs):  # as fairseq-eval-lm prints when it skips samples
        stdout.write("INFO | Evaluated 12 tokens in 0.1s (120.00 tokens/s)\n")
        stdout.write("INFO | Loss (base 2): 3.0000, Perplexity: 8.00\n")
        return 0

    monkeypatch.setattr(children, "run", skipping_eval_lm)
    argv = ["--config", os.path.join(REPO, "configs", "evaluate-wikitext103.toml"), "--cpu"]
    argv += ["--checkpoint", str(checkpoint), "--data", data, "--results-dir", str(tmp_path / "results")]
    assert evaluate_lm.main(argv) == 2
    assert not [p for p in (tmp_path / "results").iterdir() if not p.name.startswith(".")]
