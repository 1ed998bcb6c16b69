"""Training curves: every log format fairseq writes is read, duplicates and
resumes count once, and a real log of a short run becomes a PNG."""

import os
import re
import subprocess

import pytest
from toy_corpus import TOY_RECIPE, binarized, run_script, sets, tiny_arch

from rdrop_recipes.evaluation import training_curves
from rdrop_recipes.process.errors import RecipeError

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY_ARCH = tiny_arch()

# lines as fairseq 0.12 prints them: console (prefixed) and --log-file copies (bare)
SIMPLE = """\
2024-05-01 10:00:01 | INFO | fairseq_cli.train | begin training epoch 1
2024-05-01 10:00:02 | INFO | train_inner | epoch 001:      5 / 8 loss=13.458, nll_loss=6.324, kl_loss=0.1443, ppl=80.11, wps=24491.6, ups=12.49, wpb=1968.4, bsz=256, num_updates=5, lr=0.00250005, gnorm=5.421, train_wall=0, wall=1
2024-05-01 10:00:03 | INFO | valid | epoch 001 | valid on 'valid' subset | loss 4.976 | nll_loss 4.793 | ppl 27.72 | bleu 1.25 | wps 0 | wpb 719 | bsz 96 | num_updates 8
2024-05-01 10:00:03 | INFO | train | epoch 001 | loss 12.526 | nll_loss 5.898 | kl_loss 0.1145 | ppl 59.65 | wps 21228.1 | ups 11.58 | wpb 1854.2 | bsz 250 | num_updates 8 | lr 0.00400002 | gnorm 4.292 | train_wall 1 | wall 2
epoch 002:      2 / 8 loss=10.666, nll_loss=5.054, kl_loss=0.0509, ppl=33.22, wps=36258.2, ups=22.07, wpb=1643, bsz=206.4, num_updates=10, lr=0.005, gnorm=1.195, train_wall=0, wall=3
epoch 002:      2 / 8 loss=10.666, nll_loss=5.054, kl_loss=0.0509, ppl=33.22, wps=36258.2, ups=22.07, wpb=1643, bsz=206.4, num_updates=10, lr=0.005, gnorm=1.195, train_wall=0, wall=3
epoch 002 | valid on 'valid' subset | loss 4.878 | nll_loss 4.566 | ppl 23.69 | bleu 2.5 | wps 1225.9 | wpb 359.5 | bsz 48 | num_updates 10 | best_bleu 2.5
"""

JSON = """\
{"epoch": 1, "update": 0.625, "loss": "12.749", "nll_loss": "6.042", "kl_loss": "0.1095", "ppl": "65.91", "num_updates": "5", "lr": "0.005", "gnorm": "2.216", "train_wall": "1", "wall": "2"}
{"epoch": 1, "valid_loss": "5.088", "valid_nll_loss": "4.917", "valid_bleu": "0.5", "valid_num_updates": "8"}
{"epoch": 1, "train_loss": "12.079", "train_nll_loss": "5.726", "train_kl_loss": "0.0906", "train_num_updates": "8", "train_wall": "3"}
2024-05-01 10:00:05 | INFO | train_inner | {"epoch": 2, "update": 1.25, "loss": "10.666", "kl_loss": "0.0509", "num_updates": "10", "wall": "4"}
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_simple_format_prefixed_and_bare_lines(tmp_path):
    run = training_curves.parse_log(write(tmp_path, "simple.log", SIMPLE), "r")
    assert sorted(run.train) == [5, 10]  # the repeated update-10 line counts once
    assert run.series("train", "kl_loss") == [(5, 0.1443), (10, 0.0509)]
    assert run.series("train", "loss", "wall") == [(1.0, 13.458), (3.0, 10.666)]
    assert run.series("valid", "bleu") == [(8, 1.25), (10, 2.5)]
    # valid lines have no clock: the end-of-epoch train summary right after gives it
    assert run.series("valid", "loss", "wall") == [(2.0, 4.976), (3.0, 4.878)]
    assert run.valid_subset == "valid"


def test_json_format(tmp_path):
    run = training_curves.parse_log(write(tmp_path, "json.log", JSON), "j")
    assert run.series("train", "loss") == [(5, 12.749), (10, 10.666)]
    assert run.series("valid", "bleu") == [(8, 0.5)]
    assert run.summary[8]["kl_loss"] == 0.0906


def test_tqdm_log_with_only_epoch_summaries(tmp_path):
    summaries = [line for line in SIMPLE.splitlines() if "| train |" in line or "valid on" in line]
    run = training_curves.parse_log(write(tmp_path, "tqdm.log", "\n".join(summaries) + "\n"), "t")
    assert run.series("train", "loss") == [(8, 12.526)]


def test_a_file_without_training_records_is_refused(tmp_path):
    with pytest.raises(RecipeError, match="no fairseq-train training records"):
        training_curves.parse_log(write(tmp_path, "other.log", "hello\n"))
    with pytest.raises(RecipeError, match="not found"):
        training_curves.parse_log(str(tmp_path / "missing.log"))


@pytest.mark.slow
def test_png_from_the_log_of_a_real_run(tmp_path):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    data = binarized(str(tmp_path), train=400)
    save = tmp_path / "rdrop"
    proc = run_script(
        "train-iwslt14.sh",
        "--data",
        data,
        "--save-dir",
        save,
        *sets(**TOY_RECIPE, lr=5e-3, log_interval=2, max_tokens=512, eval_bleu="false"),
        *sets(best_checkpoint_metric="loss", maximize_best_checkpoint_metric="false"),
        "--",
        *TINY_ARCH,
        "--no-save",
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    other = write(tmp_path, "other.log", SIMPLE)  # a second run beside it
    out = tmp_path / "curves.png"
    proc = subprocess.run(
        [
            "bash",
            os.path.join(REPO, "scripts", "plot-curves.sh"),
            str(save),
            other,
            "--out",
            str(out),
            "--labels",
            "R-Drop,sample",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert out.is_file() and out.stat().st_size > 20_000
    assert "R-Drop: 6 train and" in proc.stdout and "sample: 2 train and 2 valid" in proc.stdout

    run = training_curves.parse_log(str(save))
    logged = {
        line.split("num_updates=")[1].split(",")[0]
        for line in (save / "train.log").read_text().splitlines()
        if "num_updates=" in line
    }
    assert len(run.series("train", "loss")) == len(logged) == 6  # every 2nd of 12 updates
    assert len(run.series("train", "kl_loss")) == 6
    assert len(run.series("train", "loss", "wall")) == 6
    epochs = len(
        {
            re.search(r"epoch (\d+) \| valid on", line).group(1)
            for line in (save / "train.log").read_text().splitlines()
            if "valid on 'valid'" in line
        }
    )
    assert len(run.series("valid", "loss")) == epochs >= 2


def test_a_restarted_clock_keeps_counting(tmp_path):
    lines = [
        "epoch 001:      2 / 9 loss=9.0, num_updates=10, wall=100",
        "epoch 001:      4 / 9 loss=8.0, num_updates=20, wall=200",
        # resumed from the checkpoint at update 20; this clock starts again
        "epoch 002:      2 / 9 loss=7.0, num_updates=30, wall=50",
        "epoch 002 | valid on 'valid' subset | loss 6.5 | num_updates 35",
        "epoch 002:      4 / 9 loss=6.0, num_updates=40, wall=150",
    ]
    run = training_curves.parse_log(write(tmp_path, "resumed.log", "\n".join(lines) + "\n"))
    assert [x for x, _ in run.series("train", "loss", "wall")] == [100, 200, 200, 300]
    assert run.series("valid", "loss", "wall") == [(300, 6.5)]
