"""Evaluation: reading fairseq-generate output, the BLEU conventions, fresh
results folders, and real runs of scripts/evaluate.sh (IWSLT and WMT paths)
on checkpoints of a short training run on the toy corpus."""

import glob
import json
import os
import subprocess

import pytest
from toy_corpus import TOY_RECIPE, binarized, run_script, sets, tiny_arch

from rdrop_recipes import evaluate
from rdrop_recipes.evaluation import evaluated_checkpoints, scoring
from rdrop_recipes.fairseq_io import log_lines
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.process.errors import RecipeError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WMT = os.path.join(REPO, "configs", "evaluate-wmt14.toml")
TOY_LANGS = ["--set", "source_lang=src", "--set", "target_lang=tgt"]
TINY_ARCH = ["--arch", "transformer", *tiny_arch(), "--share-all-embeddings"]


def test_generate_output_is_read_in_corpus_order():
    lines = [
        "S-2\tc",
        "T-2\tgamma",
        "H-2\t-0.5\tGAMMA",
        "D-2\t-0.5\tGAMMA",
        "P-2\t-0.1 -0.2",
        "S-0\ta",
        "T-0\talpha",
        "H-0\t-0.1\tALPHA",
        "T-1\tbeta",
        "H-1\t-0.3\t",
        "2024-01-01 | INFO | fairseq_cli.generate | NOTE: hypothesis and token scores are output in base 2",
    ]
    hyps, refs = log_lines.hypotheses_and_references(lines, "H")
    assert hyps == ["ALPHA", "", "GAMMA"] and refs == ["alpha", "beta", "gamma"]
    with pytest.raises(ValueError, match="do not pair up"):
        log_lines.hypotheses_and_references(["H-0\t-1\tx"], "H")


def test_compound_split_matches_the_usual_substitution():
    assert (
        scoring.compound_split("ein Test-Fall , 3-4 mal")
        == "ein Test ##AT##-##AT## Fall , 3 ##AT##-##AT## 4 mal"
    )
    # the match consumes the letters around a hyphen, so chained hyphens keep every second one
    assert scoring.compound_split("a-b-c") == "a ##AT##-##AT## b-c"
    assert scoring.compound_split("- lone -") == "- lone -"


def test_tokenized_bleu_is_case_aware_on_request():
    assert (
        scoring.tokenized_bleu(["The cat sat on the mat"], ["the cat sat on the mat"], lowercase=True)[
            "score"
        ]
        == 100.0
    )
    assert scoring.tokenized_bleu(["The cat sat on the mat"], ["the cat sat on the mat"])["score"] < 100.0
    report = scoring.tokenized_bleu(["a b c d"], ["a b c d"])
    assert "tok:none" in report["signature"]


def test_completed_runs_ignore_partial_folders(tmp_path):
    (tmp_path / ".run-20240101-000000-1.partial").mkdir()
    (tmp_path / ".run-20240101-000000-1.partial" / "scores.json").write_text("{}")
    done = tmp_path / "run-20240101-000001"
    done.mkdir()
    (done / "scores.json").write_text("{}")
    (tmp_path / "half").mkdir()
    assert results_dirs.completed_runs(str(tmp_path)) == [str(done)]
    assert results_dirs.stale_partials(str(tmp_path)) == [str(tmp_path / ".run-20240101-000000-1.partial")]


def test_resolving_checkpoints(tmp_path):
    for name in ("checkpoint_1_10.pt", "checkpoint_2_20.pt", "checkpoint_3_30.pt", "checkpoint_best.pt"):
        (tmp_path / name).write_bytes(b"")
    names = lambda paths: [os.path.basename(p) for p in paths]  # noqa: E731
    assert names(evaluated_checkpoints.resolve_checkpoints([str(tmp_path)], 0)) == ["checkpoint_best.pt"]
    assert names(evaluated_checkpoints.resolve_checkpoints([str(tmp_path)], 2)) == [
        "checkpoint_2_20.pt",
        "checkpoint_3_30.pt",
    ]
    assert names(evaluated_checkpoints.resolve_checkpoints([str(tmp_path / "checkpoint_*_*.pt")], 0)) == [
        "checkpoint_1_10.pt",
        "checkpoint_2_20.pt",
        "checkpoint_3_30.pt",
    ]
    with pytest.raises(RecipeError, match="not found; train first"):
        evaluated_checkpoints.resolve_checkpoints([str(tmp_path / "nope.pt")], 0)


# ---------------------------------------------------------------- end to end


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Toy corpus + 24 updates of the IWSLT recipe, shrunk, checkpoints every 12 updates."""
    root = tmp_path_factory.mktemp("evaluate")
    env = dict(os.environ, OMP_NUM_THREADS="1")
    save = root / "ck"
    # 2000 sentences: 16 batches of 1024 tokens per epoch, so updates 12 and 24 fall inside
    # epochs and get update-numbered checkpoints (an epoch's last update is saved by epoch)
    data = binarized(str(root), train=2000, test=45, splits=("train", "valid", "test"))
    # through the IWSLT front door, shrunk: a tiny model, no validation, a checkpoint every 12 updates
    train = run_script(
        "train-iwslt14.sh",
        "--data",
        data,
        "--save-dir",
        save,
        "--device",
        "cpu",
        *sets(**{**TOY_RECIPE, "max_update": 24}, lr=5e-3, max_tokens=1024, eval_bleu="false", seed=2),
        "--",
        *TINY_ARCH[2:],
        "--save-interval-updates",
        "12",
        "--no-epoch-checkpoints",
        "--disable-validation",
        env=env,
    )
    assert train.returncode == 0, train.stdout[-2000:] + train.stderr[-2000:]
    return {"root": root, "data": data, "save": save, "env": env, "test_sentences": 45}


def run_evaluate(trained, *args):
    return subprocess.run(
        [
            "bash",
            os.path.join(REPO, "scripts", "evaluate.sh"),
            "--data",
            trained["data"],
            "--results-dir",
            str(trained["root"] / "results"),
            "--device",
            "cpu",
            *TOY_LANGS,
            *args,
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=trained["env"],
    )


@pytest.mark.slow
def test_iwslt_evaluation_writes_a_fresh_complete_results_folder(trained):
    checkpoint = str(trained["save"] / "checkpoint_last.pt")
    leftover = trained["root"] / "results" / ".old-20240101-000000-7.partial"
    leftover.mkdir(parents=True)  # what a killed run leaves behind

    first = run_evaluate(trained, "--checkpoint", checkpoint, "--name", "toy")
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "fairseq_cli.generate" in first.stdout and "--user-dir" in first.stdout
    assert "unfinished earlier run" in first.stdout
    second = run_evaluate(trained, "--checkpoint", checkpoint, "--name", "toy")
    assert second.returncode == 0, second.stderr[-2000:]

    runs = [r for r in results_dirs.completed_runs(str(trained["root"] / "results")) if "toy-" in r]
    assert len(runs) == 2 and runs[0] != runs[1]  # a new folder per run, nothing appended
    assert str(leftover) not in runs and not (leftover / "scores.json").exists()
    folder = runs[0]
    assert sorted(os.listdir(folder)) == ["generate.log", "hypotheses.txt", "references.txt", "scores.json"]
    scores = json.load(open(os.path.join(folder, "scores.json")))
    assert isinstance(scores["bleu"]["score"], float)
    assert scores["bleu"]["kind"] == "tokenized BLEU, lowercased"
    assert "tok:none" in scores["bleu"]["signature"] and "case:lc" in scores["bleu"]["signature"]
    # every test sentence, the last short batch included (fairseq#5036)
    assert scores["sentences"] == trained["test_sentences"]
    assert len(open(os.path.join(folder, "hypotheses.txt")).read().splitlines()) == trained["test_sentences"]
    assert scores["generate"]["beam"] == 5 and scores["generate"]["lenpen"] == 1.0
    assert scores["averaged"] is False and scores["checkpoints"] == [checkpoint]
    assert "BLEU4" in scores["fairseq_reported"]
    assert not glob.glob(str(trained["root"] / "results" / ".toy-*"))


@pytest.mark.slow
def test_wmt_evaluation_averages_and_reports_both_bleus(trained):
    proc = run_evaluate(
        trained,
        "--config",
        WMT,
        "--checkpoint",
        str(trained["save"]),
        "--average-last",
        "2",
        "--name",
        "wmt-toy",
        "--set",
        "beam=2",
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "averaging 2 checkpoints" in proc.stdout
    [folder] = [r for r in results_dirs.completed_runs(str(trained["root"] / "results")) if "wmt-toy" in r]
    scores = json.load(open(os.path.join(folder, "scores.json")))
    assert scores["averaged"] is True
    assert [os.path.basename(p) for p in scores["checkpoints"]] == [
        "checkpoint_1_12.pt",
        "checkpoint_2_24.pt",
    ]
    assert scores["bleu"]["kind"] == "tokenized BLEU with compound splitting"
    assert scores["generate"]["lenpen"] == 0.6 and scores["generate"]["beam"] == 2
    assert scores["sacrebleu"]["signature"].startswith("nrefs:1|case:mixed|eff:no|tok:13a")
    assert isinstance(scores["sacrebleu"]["score"], float)
    for name in (
        "hypotheses.compound-split.txt",
        "references.compound-split.txt",
        "hypotheses.detok.txt",
        "references.detok.txt",
    ):
        assert os.path.isfile(os.path.join(folder, name))
    assert not os.path.exists(os.path.join(folder, "averaged.pt"))  # a temporary, not a result


@pytest.mark.slow
def test_bad_input_is_one_line_with_status_2(trained, tmp_path):
    proc = run_evaluate(trained, "--checkpoint", str(tmp_path / "missing.pt"))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1] == (
        f"evaluate: error: checkpoint '{tmp_path / 'missing.pt'}' not found; train first "
        "(scripts/train-*.sh) or pass --checkpoint PATH"
    )
    proc = subprocess.run(
        [
            "bash",
            os.path.join(REPO, "scripts", "evaluate.sh"),
            "--data",
            str(tmp_path / "nodata"),
            "--checkpoint",
            str(trained["save"] / "checkpoint_last.pt"),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=trained["env"],
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines()[-1].startswith("evaluate: error: data folder")
    assert "prepare-iwslt14.sh" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.slow
def test_an_interrupted_or_failed_run_leaves_nothing_that_looks_complete(trained, tmp_path, monkeypatch):
    results = tmp_path / "results"
    args = [
        "--config",
        os.path.join(REPO, "configs", "evaluate-iwslt14.toml"),
        "--data",
        trained["data"],
        "--checkpoint",
        str(trained["save"] / "checkpoint_last.pt"),
        "--results-dir",
        str(results),
        "--device",
        "cpu",
        "--name",
        "cut",
        *TOY_LANGS,
    ]

    def interrupted(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(scoring, "bleu_scores", interrupted)  # Ctrl-C after generation, before scores.json
    assert evaluate.main(args) == 130  # the one exit mechanism: "evaluate: interrupted", status 130
    assert os.listdir(results) == []

    broken = tmp_path / "checkpoint_9_99.pt"
    broken.write_bytes(b"not a checkpoint")
    monkeypatch.undo()
    assert evaluate.main(args[:5] + [str(broken)] + args[6:]) == 2
    assert results_dirs.completed_runs(str(results)) == []
    assert all(name.startswith(".") and name.endswith(".partial") for name in os.listdir(results))
