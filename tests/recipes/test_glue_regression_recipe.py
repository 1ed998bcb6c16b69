"""GLUE recipe, regression: fabricated STS-B (0-5 scores) -> prepare-glue
(scores divided by 5 into label/*.label) -> finetune-glue with R-Drop's
squared-difference term from a tiny random RoBERTa checkpoint -> the dev
Pearson correlation per seed in scores.json."""

import os

import pytest
from fabricate_gpt2 import finetuned_glue, lines, prepared_glue, write_stsb


@pytest.mark.slow
def test_prepare_then_finetune_stsb_reports_pearson(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    bpe, glue, task_dir, _ = prepared_glue(str(tmp_path), "STS-B", write_stsb)
    assert not os.path.exists(os.path.join(task_dir, "label", "dict.txt"))
    raw_scores = [float(line.split("\t")[9]) for line in lines(os.path.join(glue, "STS-B", "dev.tsv"))[1:]]
    scaled = [float(v) for v in lines(os.path.join(task_dir, "label", "valid.label"))]
    assert scaled == pytest.approx([v / 5 for v in raw_scores], abs=1e-4)

    _, folder, scores = finetuned_glue(str(tmp_path), "STS-B", bpe, task_dir, 3)
    run = scores["seeds"]["3"]
    assert scores["metric"] == "pearson" and -100 <= run["best"] <= 100
    assert run["validations"] and "--regression-target" in run["command"]
    log = "\n".join(lines(os.path.join(folder, "seed3", "train.log")))
    assert '"train_copies_mse"' in log and '"valid_spearman"' in log and "train_kl_loss" not in log
