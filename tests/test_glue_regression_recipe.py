"""GLUE recipe, regression: fabricated STS-B (0-5 scores) -> prepare-glue
(scores divided by 5 into label/*.label) -> finetune-glue with R-Drop's
squared-difference term from a tiny random RoBERTa checkpoint -> the dev
Pearson correlation per seed in scores.json."""

import json
import os

import pytest
from fabricate_gpt2 import TINY_ROBERTA, save_pretrained, write_gpt2_bpe, write_stsb

from rdrop_recipes import finetune_glue, prepare_glue


def lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().splitlines()


@pytest.mark.slow
def test_prepare_then_finetune_stsb_reports_pearson(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    bpe = write_gpt2_bpe(str(tmp_path / "bpe"))
    glue = str(tmp_path / "glue")
    write_stsb(glue)
    data_bin = str(tmp_path / "data-bin")
    argv = [
        "STS-B",
        "--glue-dir",
        glue,
        "--bpe-dir",
        bpe,
        "--offline",
        "--data-bin",
        data_bin,
        "--workers",
        "1",
    ]
    assert prepare_glue.main(argv) == 0
    task_dir = os.path.join(data_bin, "STS-B-bin")
    assert not os.path.exists(os.path.join(task_dir, "label", "dict.txt"))
    raw_scores = [float(line.split("\t")[9]) for line in lines(os.path.join(glue, "STS-B", "dev.tsv"))[1:]]
    scaled = [float(v) for v in lines(os.path.join(task_dir, "label", "valid.label"))]
    assert scaled == pytest.approx([v / 5 for v in raw_scores], abs=1e-4)

    model = save_pretrained(str(tmp_path / "tiny-roberta" / "model.pt"), "masked_lm", bpe, TINY_ROBERTA)
    results = str(tmp_path / "results")
    argv = [
        "STS-B", "--model", model, "--data", task_dir, "--seeds", "3", "--results-dir", results, "--cpu",
        "--set", "max_update=12", "--set", "lr=1e-3", "--set", "warmup_updates=2", "--set", "log_interval=4",
        "--", *TINY_ROBERTA,
    ]  # fmt: skip
    assert finetune_glue.main(argv) == 0
    (folder,) = os.listdir(results)
    with open(os.path.join(results, folder, "scores.json")) as f:
        scores = json.load(f)
    run = scores["seeds"]["3"]
    assert scores["metric"] == "pearson" and -100 <= run["best"] <= 100
    assert run["validations"] and "--regression-target" in run["command"]
    log = "\n".join(lines(os.path.join(results, folder, "seed3", "train.log")))
    assert '"train_copies_mse"' in log and '"valid_spearman"' in log and "train_kl_loss" not in log
