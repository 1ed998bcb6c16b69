"""scripts/compare.sh: variants x seeds through the real train and evaluate
recipes on a tiny fabricated corpus, then the resume rules (finished runs are
skipped, a killed run is never reported as finished)."""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rdrop_recipes.comparison import consoles, execution, plan, summary
from rdrop_recipes.config import declarations
from rdrop_recipes.config.recipe_config import REPO_ROOT as REPO
from rdrop_recipes.folders.markers import TRAINED
from rdrop_recipes.process.errors import RecipeError

TRAIN_CFG = os.path.join(REPO, "configs", "train-multi30k.toml")
EVAL_CFG = os.path.join(REPO, "configs", "evaluate-multi30k.toml")
# a model of a few thousand parameters: the test checks the plumbing, not the learning
TINY = [
    "source_lang=src",
    "target_lang=tgt",
    "encoder_layers=1",
    "decoder_layers=1",
    "encoder_embed_dim=32",
    "decoder_embed_dim=32",
    "encoder_ffn_embed_dim=64",
    "decoder_ffn_embed_dim=64",
    "encoder_attention_heads=2",
    "decoder_attention_heads=2",
    "warmup_updates=2",
    "max_tokens=1024",
    "log_interval=1",
]
EVAL = ["source_lang=src", "target_lang=tgt", "beam=2"]
ENV = dict(os.environ, OMP_NUM_THREADS="1")


def sets(flag, items):
    return [part for item in items for part in (flag, item)]


# -- pure parts ----------------------------------------------------------------


def test_variants_from_the_config_or_defined_by_flags():
    config = {"variants": {"rdrop": {}, "baseline": {}}}
    flags = plan.variant_flags(
        ["baseline", "rdrop", "alpha1"], ["alpha1=--variant rdrop --reg-alpha 1"], config
    )
    assert flags == {
        "baseline": ["--variant", "baseline"],
        "rdrop": ["--variant", "rdrop"],
        "alpha1": ["--variant", "rdrop", "--reg-alpha", "1"],
    }
    with pytest.raises(RecipeError, match="neither in rdrop, baseline"):
        plan.variant_flags(["dropout9"], [], config)
    with pytest.raises(RecipeError, match="set by compare itself"):
        plan.variant_flags(["x"], ["x=--save-dir elsewhere"], config)
    with pytest.raises(RecipeError, match="comma-separated integers"):
        declarations.parse_seeds("1,two")
    with pytest.raises(RecipeError, match="twice"):
        plan.split_list("rdrop,rdrop", "variants")


def test_summary_mean_and_sample_std_by_hand():
    records = [
        {"variant": "baseline", "seed": 1, "bleu": 30.0, "best_valid_loss": 4.0, "train_wall_seconds": 60.0},
        {"variant": "baseline", "seed": 2, "bleu": 32.0, "best_valid_loss": 5.0, "train_wall_seconds": 120.0},
        {"variant": "rdrop", "seed": 1, "bleu": 33.5, "best_valid_loss": 3.5, "train_wall_seconds": 90.0},
        {"variant": "rdrop", "seed": 2, "bleu": 33.5, "best_valid_loss": 3.0, "train_wall_seconds": 90.0},
    ]
    tests = [
        {"variant": "rdrop", "seed": 2, "p_bootstrap": 0.2, "p_ar": 0.3},
        {"variant": "rdrop", "seed": 1, "p_bootstrap": 0.01, "p_ar": 0.02},
    ]
    base, rdrop = summary.summarize(records, tests, ["baseline", "rdrop"], "baseline")
    # sample std of (30, 32): sqrt(((-1)^2 + 1^2) / (2 - 1)) = 1.414
    assert (base["bleu_mean"], base["bleu_std"]) == (31.0, 1.41)
    assert base["best_valid_loss_mean"] == 4.5 and base["train_wall_seconds_mean"] == 90.0
    assert "p_bootstrap" not in base
    assert (rdrop["bleu_mean"], rdrop["bleu_std"]) == (33.5, 0.0)
    assert rdrop["p_bootstrap"] == [0.01, 0.2] and rdrop["p_ar"] == [0.02, 0.3]  # in seed order


def test_training_seconds_add_up_resumed_attempts(tmp_path):
    console = tmp_path / "train.out"
    console.write_text(
        "\n# 2026-01-01T10:00:00: python -m rdrop_recipes.train ...\n"
        "2026-01-01 10:00:20 | INFO | fairseq_cli.train | loaded\n"
        "2026-01-01 10:05:00 | INFO | train_inner | epoch 001: ... wall=280\n"
        "\n# 2026-01-01T11:00:00: python -m rdrop_recipes.train ...\n"
        "2026-01-01 11:02:30 | INFO | train_inner | epoch 002: ... wall=0\n"
        "a line without a time\n"
    )
    # 10:00:00 -> 10:05:00 plus 11:00:00 -> 11:02:30; fairseq's wall= restarts at 0 when resumed
    assert consoles.training_seconds(str(console)) == 300 + 150
    assert consoles.training_seconds(str(tmp_path / "missing")) is None


def test_jobs_share_the_cores_or_take_one_gpu_each():
    envs = execution.job_environments
    assert envs(1, "auto", {}, 8) == [{}]  # one at a time: the environment as it is
    assert envs(2, "cpu", {}, 8) == [{"OMP_NUM_THREADS": "4"}] * 2
    assert envs(3, "cpu", {}, 2) == [{"OMP_NUM_THREADS": "1"}] * 3
    assert envs(2, "cpu", {"OMP_NUM_THREADS": "3"}, 8) == [{}, {}]  # the user's thread count
    assert envs(2, "cuda", {}, 8) == [{"CUDA_VISIBLE_DEVICES": "0"}, {"CUDA_VISIBLE_DEVICES": "1"}]
    assert envs(2, "cuda", {"CUDA_VISIBLE_DEVICES": "3, 5,6"}, 8) == [
        {"CUDA_VISIBLE_DEVICES": "3"},
        {"CUDA_VISIBLE_DEVICES": "5"},
    ]
    with pytest.raises(RecipeError, match="names 2; give --jobs 2"):
        envs(3, "cuda", {"CUDA_VISIBLE_DEVICES": "0,1"}, 8)
    with pytest.raises(RecipeError, match="needs --device cpu or --device cuda"):
        envs(2, "auto", {}, 8)
    with pytest.raises(RecipeError, match="1 or more"):
        envs(0, "cpu", {}, 8)


def shell_steps(tmp_path, scripts, finished):
    """steps_of for fake runs: each run is one shell command; finishing records its status."""

    def steps_of(run, settings, say):
        def finish(code):
            finished[run.variant] = code
            if code:
                raise RecipeError(f"{run.variant} failed with status {code}")

        yield execution.Step(["sh", "-c", scripts[run.variant]], str(tmp_path / f"{run.variant}.out"), finish)

    return steps_of


def fake_runs(tmp_path, names):
    return [(f"[{i}]", plan.Run(name, 1, str(tmp_path / name), [])) for i, name in enumerate(names)]


def test_a_failed_run_starts_no_others_and_lets_the_going_ones_finish(tmp_path, monkeypatch):
    finished = {}
    scripts = {
        "fails": "exit 3",
        "slow": f"sleep 1.5; echo $OMP_NUM_THREADS > {tmp_path}/threads",
        "later": f"touch {tmp_path}/later-ran",
    }
    monkeypatch.setattr(execution, "steps_of", shell_steps(tmp_path, scripts, finished))
    slots = [{"OMP_NUM_THREADS": "7"}, {"OMP_NUM_THREADS": "7"}]
    with pytest.raises(RecipeError, match="fails failed with status 3"):
        execution.run_all(fake_runs(tmp_path, ["fails", "slow", "later"]), None, print, slots)
    assert finished == {"fails": 3, "slow": 0}  # "slow" ran to its end, "later" never started
    assert (tmp_path / "threads").read_text().strip() == "7"  # the slot's environment
    assert not (tmp_path / "later-ran").exists()
    assert "# " in (tmp_path / "slow.out").read_text()  # the console starts with the command line


def test_an_interrupted_comparison_stops_every_run_going(tmp_path, monkeypatch):
    finished = {}
    scripts = {"quick": "true", "long": f"echo $$ > {tmp_path}/pid; exec sleep 60"}
    steps = shell_steps(tmp_path, scripts, finished)

    def interrupted_steps(run, settings, say):
        for step in steps(run, settings, say):
            if run.variant == "quick":
                # stands for Ctrl-C (or SIGTERM, which errors.py turns into an exception)
                step.finish = lambda code: (_ for _ in ()).throw(KeyboardInterrupt())
            yield step

    monkeypatch.setattr(execution, "steps_of", interrupted_steps)
    started = time.time()
    with pytest.raises(KeyboardInterrupt):
        execution.run_all(fake_runs(tmp_path, ["long", "quick"]), None, print, [{}, {}])
    assert time.time() - started < 30
    pid = int((tmp_path / "pid").read_text())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # stopped and reaped, not left sleeping


# -- whole comparisons ---------------------------------------------------------


@pytest.fixture(scope="module")
def toy_bin(tmp_path_factory):
    root = tmp_path_factory.mktemp("toy")
    raw, binarized = root / "raw", root / "bin"
    subprocess.run(
        [sys.executable, "-m", "rdrop_recipes.toy_data", str(raw), "--train", "200", "--valid", "20"],
        check=True,
        capture_output=True,
        env=ENV,
        cwd=REPO,
    )
    subprocess.run(
        [sys.executable, "-m", "fairseq_cli.preprocess", "--source-lang", "src", "--target-lang", "tgt"]
        + ["--joined-dictionary", "--trainpref", f"{raw}/train", "--validpref", f"{raw}/valid"]
        + ["--testpref", f"{raw}/test", "--destdir", str(binarized), "--workers", "1"],
        check=True,
        capture_output=True,
        env=ENV,
    )
    return str(binarized)


def compare_command(data, out, *extra, max_update=4):
    return (
        [
            "bash",
            os.path.join(REPO, "scripts", "compare.sh"),
            "--config",
            TRAIN_CFG,
            "--eval-config",
            EVAL_CFG,
        ]
        + ["--data", data, "--out", str(out), "--device", "cpu"]
        + sets("--set", TINY + [f"max_update={max_update}"])
        + sets("--eval-set", EVAL)
        + ["--bootstrap-samples", "100", "--ar-trials", "200"]
        + list(extra)
    )


def run(command):
    return subprocess.run(command, capture_output=True, text=True, env=ENV, cwd=REPO)


def results(out):
    return sorted(p for p in glob.glob(os.path.join(out, "results", "*")) if os.path.isdir(p))


@pytest.mark.slow
def test_two_variants_two_seeds_then_a_rerun_skips_them(toy_bin, tmp_path):
    out = tmp_path / "cmp"
    proc = run(compare_command(toy_bin, out, "--variants", "baseline,rdrop", "--seeds", "1,2", "--jobs", "2"))
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    # two at a time: each run of seed 1 started training before the other finished it
    spans = {}
    for name in ("baseline-seed1", "rdrop-seed1"):
        first_line = open(out / "runs" / name / "train.out").read().split("\n")[1]
        trained = json.load(open(out / "runs" / name / TRAINED))
        spans[name] = (first_line[2:21], trained["finished"])  # ISO times, comparable as text
    (start_a, end_a), (start_b, end_b) = spans.values()
    assert start_a < end_b and start_b < end_a, spans
    [first] = results(out)
    table = json.load(open(os.path.join(first, "table.json")))
    names = {"baseline-seed1", "baseline-seed2", "rdrop-seed1", "rdrop-seed2"}
    assert {r["run"] for r in table["runs"]} == names
    markdown = open(os.path.join(first, "table.md")).read()
    for name in names:
        assert f"| {name} |" in markdown
    for r in table["runs"]:
        # the BLEU of the table is the one the evaluate recipe wrote for that run
        scores = json.load(open(os.path.join(r["evaluation"], "scores.json")))
        assert r["bleu"] == scores["bleu"]["score"]
        assert r["save_dir"] == str(out / "runs" / r["run"])
        assert r["updates"] == 4 and r["best_valid_loss"] > 0
    # R-Drop is really trained with its criterion, the baseline without
    assert "kl_loss" in open(out / "runs" / "rdrop-seed1" / "train.log").read()
    assert "kl_loss" not in open(out / "runs" / "baseline-seed1" / "train.log").read()
    [base, rdrop] = table["variants"]
    assert base["variant"] == "baseline" and len(base["bleu"]) == 2 and "p_ar" not in base
    assert len(rdrop["p_bootstrap"]) == 2 and len(rdrop["p_ar"]) == 2
    for p in rdrop["p_bootstrap"] + rdrop["p_ar"]:
        assert 0.0 <= p <= 1.0
    for t in table["tests"]:
        by_run = {r["run"]: r["bleu"] for r in table["runs"]}
        assert t["bleu"] == by_run[f"rdrop-seed{t['seed']}"]
        assert t["baseline_bleu"] == by_run[f"baseline-seed{t['seed']}"]
    assert os.path.getsize(os.path.join(first, "curves.png")) > 10_000
    assert not glob.glob(os.path.join(out, "results", ".*"))

    # moved elsewhere, the comparison still knows its runs
    moved = tmp_path / "moved"
    os.rename(out, moved)
    out, first = moved, os.path.join(moved, "results", os.path.basename(first))
    logs = {n: os.path.getmtime(out / "runs" / n / "train.log") for n in names}
    again = run(compare_command(toy_bin, out, "--variants", "baseline,rdrop", "--seeds", "1,2"))
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("finished earlier, skipping") == 4
    assert "training" not in again.stdout and "evaluating" not in again.stdout
    assert logs == {n: os.path.getmtime(out / "runs" / n / "train.log") for n in names}
    assert len(results(out)) == 2  # a fresh folder; the first one is untouched
    assert json.load(open(os.path.join(first, "table.json"))) == table

    changed = run(compare_command(toy_bin, out, "--variants", "baseline", "--seeds", "1", max_update=5))
    assert changed.returncode == 2
    assert "compare: error: run baseline-seed1" in changed.stderr and "other settings" in changed.stderr
    assert "Traceback" not in changed.stderr


@pytest.mark.slow
def test_a_killed_run_is_not_reported_as_finished(toy_bin, tmp_path):
    out = tmp_path / "cmp"
    command = compare_command(toy_bin, out, "--variants", "rdrop", "--seeds", "7", max_update=100000)
    proc = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=ENV,
        cwd=REPO,
        start_new_session=True,
    )
    log = out / "runs" / "rdrop-seed7" / "train.log"
    deadline = time.time() + 120
    try:
        while time.time() < deadline and proc.poll() is None:
            if log.is_file() and "num_updates=" in log.read_text():
                break  # fairseq is training
            time.sleep(0.5)
        assert proc.poll() is None, "compare ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait()
    assert "num_updates=" in log.read_text()
    assert not (out / "runs" / "rdrop-seed7" / TRAINED).exists()
    assert results(out) == []
    # the same settings as the killed run: other settings are refused, by the dry run as by the real one
    status = run(
        compare_command(toy_bin, out, "--variants", "rdrop", "--seeds", "7", "--dry-run", max_update=100000)
    )
    assert status.returncode == 0, status.stderr
    assert "rdrop-seed7: interrupted" in status.stdout and "finished" not in status.stdout
