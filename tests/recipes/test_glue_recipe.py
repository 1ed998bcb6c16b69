"""GLUE recipe: fabricated GLUE folders in the download_glue_data.py layout,
a fabricated GPT-2 BPE, and a tiny random RoBERTa saved as a checkpoint stand
in for the real ones. prepare-glue -> finetune-glue (R-Drop) ->
scores.json; the column layout of every task; config resolution; errors."""

import json
import os
import shlex
import subprocess
import sys

import pytest
import torch
from fabricate_gpt2 import finetuned_glue, lines, prepared_glue, write_gpt2_bpe, write_rte, write_stsb

from rdrop_recipes import finetune_glue, prepare_glue
from rdrop_recipes.fairseq_io import log_lines
from rdrop_recipes.folders import results_dirs
from rdrop_recipes.folders.markers import PREPARE_CONFIG
from rdrop_recipes.preparation import glue
from rdrop_recipes.process.errors import PrepareError, RecipeError
from rdrop_recipes.training import glue_finetuning, slurm
from rdrop_recipes.training.hardware import Hardware


def test_cut_behaves_like_cut_f():
    assert glue.cut("a\tb\tc", 2) == "b"
    assert glue.cut("a\tb", 5) == ""
    assert glue.cut("no tabs here", 3) == "no tabs here"
    assert glue.cut("x\r y\tz", 1) == "x  y"


def test_columns_of_every_kind_of_task(tmp_path):
    """MNLI's dev label column, CoLA's missing header, QQP's malformed lines and STS-B's scaling."""
    raw = tmp_path / "glue"
    mnli = raw / "MNLI"
    mnli.mkdir(parents=True)
    row = ["c"] * 16
    for split in glue.TASKS["MNLI"].splits:
        fields = list(row)
        fields[8], fields[9] = f"{split} premise", f"{split} hypothesis"
        fields[11], fields[15] = "train-label", "dev-label"
        (mnli / f"{split}.tsv").write_text("header\n" + "\t".join(fields) + "\n")
    cola = raw / "CoLA"
    cola.mkdir()
    (cola / "train.tsv").write_text("src\t1\t\tA fine sentence .\nsrc\t0\t*\tSentence bad a .\n")
    (cola / "dev.tsv").write_text("src\t1\t\tAnother one .\n")
    (cola / "test.tsv").write_text("index\tsentence\n0\tTest sentence .\n")
    qqp = raw / "QQP"
    qqp.mkdir()
    (qqp / "train.tsv").write_text("h\n1\t2\t3\tq one\tq two\t1\nbroken\tline\n")
    (qqp / "dev.tsv").write_text("h\n1\t2\t3\tq three\tq four\t0\n")
    (qqp / "test.tsv").write_text("h\n0\tt one\tt two\n")
    write_stsb(str(raw), n_train=3, n_dev=2)

    for name in ("MNLI", "CoLA", "QQP", "STS-B"):
        work = raw / name / "processed"
        work.mkdir()
        glue.split_columns(name, str(raw / name), str(work))
    work = raw / "MNLI" / "processed"
    assert lines(work / "train.raw.input0") == ["train premise"]
    assert lines(work / "dev_mismatched.raw.input1") == ["dev_mismatched hypothesis"]
    assert lines(work / "train.label") == ["train-label"]
    assert lines(work / "dev_matched.label") == ["dev-label"]
    assert not (work / "test_matched.label").exists()
    work = raw / "CoLA" / "processed"
    assert lines(work / "train.raw.input0") == ["A fine sentence .", "Sentence bad a ."]
    assert lines(work / "train.label") == ["1", "0"]
    assert lines(work / "test.raw.input0") == ["Test sentence ."]
    assert not (work / "train.raw.input1").exists()
    work = raw / "QQP" / "processed"
    assert lines(work / "train.raw.input1") == ["q two"]
    assert lines(work / "test.raw.input0") == ["t one"]
    work = raw / "STS-B" / "processed"
    scores = lines(work / "train.label")
    assert len(scores) == 3 and lines(work / "test.raw.input1")
    scaled = list(glue.scaled_scores(str(work / "train.label")))
    assert [float(s) for s in scaled] == pytest.approx([float(s) / 5 for s in scores], abs=1e-5)
    (work / "bad.label").write_text("2.5\nn/a\n")
    with pytest.raises(PrepareError, match="line 2"):
        list(glue.scaled_scores(str(work / "bad.label")))


def test_unknown_task_and_missing_inputs_are_one_line_errors(tmp_path, capsys):
    assert prepare_glue.main(["WNLI", "--bpe-dir", str(tmp_path), "--offline"]) == 2
    assert "unknown GLUE task 'WNLI'" in capsys.readouterr().err
    assert prepare_glue.main(["RTE", "--bpe-dir", str(tmp_path / "none"), "--offline"]) == 2
    assert "lacks encoder.json" in capsys.readouterr().err
    bpe = write_gpt2_bpe(str(tmp_path / "bpe"))
    argv = ["MRPC", "--bpe-dir", bpe, "--glue-dir", str(tmp_path / "glue"), "--offline"]
    assert prepare_glue.main(argv) == 2
    assert "no single archive" in capsys.readouterr().err
    argv = ["RTE", "--bpe-dir", bpe, "--glue-dir", str(tmp_path / "glue"), "--offline"]
    assert prepare_glue.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "RTE.zip" in err
    assert finetune_glue.main(["WNLI", "--dry-run", "--cpu"]) == 2
    assert "unknown GLUE task 'WNLI'" in capsys.readouterr().err


def args_for(*argv):
    return finetune_glue.parse_args(list(argv))


def test_config_gives_each_task_the_paper_settings():
    cfg = glue_finetuning.resolve(args_for("RTE"))
    fairseq, recipe = cfg["fairseq"], cfg["recipe"]
    assert (fairseq["max_update"], fairseq["batch_size"], fairseq["reg_alpha"]) == (3120, 8, 1.0)
    assert fairseq["total_num_update"] == 3120 and fairseq["lr"] == 1e-5 and fairseq["weight_decay"] == 0.01
    assert recipe["metric"] == "accuracy" and recipe["data"] == "data-bin/glue/RTE-bin"
    assert "metric" not in fairseq
    cfg = glue_finetuning.resolve(args_for("STS-B", "--set", "lr=2e-5", "--seeds", "1,2,3"))
    assert cfg["fairseq"]["regression_target"] is True and cfg["recipe"]["metric"] == "pearson"
    assert cfg["fairseq"]["lr"] == 2e-5 and cfg["recipe"]["seeds"] == [1, 2, 3]
    cfg = glue_finetuning.resolve(
        args_for("CoLA", "--variant", "baseline", "--set", "tasks.CoLA.max_update=7")
    )
    assert cfg["fairseq"]["criterion"] == "sentence_prediction" and cfg["fairseq"]["reg_alpha"] is False
    assert cfg["fairseq"]["max_update"] == 7 and cfg["recipe"]["metric"] == "mcc"
    with pytest.raises(RecipeError, match="--seeds"):
        glue_finetuning.resolve(args_for("RTE", "--seeds", "a,b"))
    with pytest.raises(RecipeError, match="unknown variant"):
        glue_finetuning.resolve(args_for("RTE", "--variant", "cutoff"))


def glue_folder(folder, regression=False):
    os.makedirs(os.path.join(folder, "input0"))
    os.makedirs(os.path.join(folder, "label"))
    open(os.path.join(folder, "input0", "dict.txt"), "w").close()
    open(os.path.join(folder, "label", "train.label" if regression else "dict.txt"), "w").close()
    return folder


def test_dry_run_restores_the_named_model_with_reset_flags(tmp_path, capsys):
    data = glue_folder(str(tmp_path / "MNLI-bin"))
    argv = ["MNLI", "--dry-run", "--cpu", "--model", "roberta.base", "--seeds", "3", "--data", data]
    assert finetune_glue.main(argv) == 0
    out = capsys.readouterr().out
    command = out.strip().splitlines()[-1]
    assert "--restore-file models/roberta.base/model.pt" in command
    for flag in ("--reset-optimizer", "--reset-dataloader", "--reset-meters", "--arch roberta_base"):
        assert flag in command
    assert "--valid-subset valid,valid1" in command and "--seed 3" in command
    assert "--task rdrop_sentence_prediction --criterion reg_sentence_prediction" in command


def test_missing_data_and_model_are_one_line_errors(tmp_path, capsys):
    assert finetune_glue.main(["STS-B", "--cpu", "--data", str(tmp_path / "none")]) == 2
    assert "scripts/prepare-glue.sh" in capsys.readouterr().err
    data = glue_folder(str(tmp_path / "STS-B-bin"))  # class labels, but STS-B is regression
    assert finetune_glue.main(["STS-B", "--cpu", "--data", data]) == 2
    assert "lacks label/train.label" in capsys.readouterr().err
    data = glue_folder(str(tmp_path / "RTE-bin"))
    argv = ["RTE", "--cpu", "--data", data, "--model", "roberta.large", "--offline"]
    argv += ["--model-dir", str(tmp_path / "models")]
    assert finetune_glue.main(argv) == 2
    assert "--model-archive" in capsys.readouterr().err
    assert finetune_glue.main(["RTE", "--cpu", "--data", data, "--model", str(tmp_path / "x.pt")]) == 2
    assert "neither a file nor a known model" in capsys.readouterr().err
    model = tmp_path / "model.pt"
    model.write_bytes(b"")
    assert (
        finetune_glue.main(["RTE", "--cpu", "--data", data, "--model", str(model), "--", "--arch", "x"]) == 2
    )
    assert "is empty" in capsys.readouterr().err
    assert finetune_glue.main(["RTE", "--cpu", "--data", data, "--model", str(model), "--dry-run"]) == 2
    assert "-- --arch roberta_large" in capsys.readouterr().err


def test_every_seed_and_the_mean_go_into_one_fresh_results_folder(tmp_path, monkeypatch):
    """fairseq-train replaced by a script that logs a known validation curve per seed."""
    data = glue_folder(str(tmp_path / "CoLA-bin"))
    model = tmp_path / "model.pt"
    model.write_bytes(b"")
    torch.save({"model": {}}, str(model))  # what check_checkpoint asks of a fairseq checkpoint
    curves = {1: [40.0, 55.5, 50.0], 2: [60.0, 58.0, 59.0], 3: [45.0, 45.0, 46.5]}

    def fake_run(command, log_path):
        seed = int(command[command.index("--seed") + 1])
        out = []
        for i, v in enumerate(curves[seed]):
            out.append(f'x | valid | {{"valid_mcc": "{v}", "valid_num_updates": "{10 * (i + 1)}"}}\n')
            out.append(f'x | valid1 | {{"valid1_mcc": "{i}", "valid1_num_updates": "{10 * (i + 1)}"}}\n')
        with open(log_path, "w") as f:
            f.writelines(out)
        return 0, out

    monkeypatch.setattr(glue_finetuning, "run_seed", fake_run)
    results = str(tmp_path / "results")
    argv = ["CoLA", "--cpu", "--data", data, "--model", str(model), "--seeds", "1,2,3"]
    argv += ["--results-dir", results, "--", "--arch", "roberta_base"]
    assert finetune_glue.main(argv) == 0
    (folder,) = os.listdir(results)
    with open(os.path.join(results, folder, "scores.json")) as f:
        scores = json.load(f)
    assert scores["metric"] == "mcc" and scores["variant"] == "rdrop"
    assert {s: e["best"] for s, e in scores["seeds"].items()} == {"1": 55.5, "2": 60.0, "3": 46.5}
    assert scores["seeds"]["1"]["best_at_update"] == 20 and scores["seeds"]["1"]["last"] == 50.0
    assert scores["seeds"]["1"]["other_subsets_at_best"] == {"valid1": 1.0}
    assert scores["mean"] == pytest.approx((55.5 + 60.0 + 46.5) / 3, abs=1e-4)

    curves[2] = []  # a run that never validated: no results folder that looks complete
    assert finetune_glue.main(argv) == 2
    assert [n for n in os.listdir(results) if not n.startswith(".")] == [folder]


def test_a_failed_run_names_its_cause():
    log = [
        "Traceback (most recent call last):\n",
        '  File "x.py", line 1\n',
        "Exception: Size of sample #9 is invalid\n",
    ]
    assert log_lines.failure_line(log) == "Exception: Size of sample #9 is invalid"
    log = ["rdrop_fairseq: error: --reg-alpha must be a finite number >= 0\n", "more\n"]
    assert log_lines.failure_line(log).startswith("rdrop_fairseq: error: --reg-alpha")
    assert log_lines.failure_line(["train.py: error: unrecognized arguments: --x\n"]).endswith("--x")
    assert log_lines.failure_line(["all fine\n"]) is None


def test_validation_lines_are_read_per_subset():
    log = [
        '2026 | INFO | valid | {"epoch": 1, "valid_accuracy": "60.5", "valid_num_updates": "10"}\n',
        '2026 | INFO | valid1 | {"epoch": 1, "valid1_accuracy": "58", "valid1_num_updates": "10"}\n',
        '2026 | INFO | train | {"epoch": 1, "train_accuracy": "99"}\n',
        "2026 | INFO | fairseq_cli.train | {'_name': None, 'common': {'seed': 1}}\n",
        '2026 | INFO | valid | {"epoch": 2, "valid_accuracy": "62.25", "valid_num_updates": "20"}\n',
        '2026 | INFO | test | {"epoch": 2, "test_accuracy": "61", "test_num_updates": "20"}\n',
    ]
    assert log_lines.read_validations(log, "accuracy") == [
        ("valid", 10, 60.5),
        ("valid1", 10, 58.0),
        ("valid", 20, 62.25),
        ("test", 20, 61.0),
    ]
    assert log_lines.read_validations(log, "mcc") == []


@pytest.mark.slow
def test_prepare_then_finetune_rte_with_rdrop_writes_the_dev_metric(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    bpe, glue, task_dir, argv = prepared_glue(str(tmp_path), "RTE", write_rte)
    assert {"input0", "input1", "label", PREPARE_CONFIG} <= set(os.listdir(task_dir))
    assert not os.path.exists(task_dir + ".tmp")
    assert {l.split()[0] for l in lines(os.path.join(task_dir, "label", "dict.txt"))} >= {
        "entailment",
        "not_entailment",
    }
    # the model's dictionary, untouched: ids from the GPT-2 encoder
    assert lines(os.path.join(task_dir, "input0", "dict.txt")) == lines(os.path.join(bpe, "dict.txt"))
    encoded = lines(os.path.join(glue, "RTE", "processed", "train.input0"))
    assert len(encoded) == 48 and all(tok.isdigit() for tok in encoded[0].split())
    assert prepare_glue.main(argv) == 0  # a re-run keeps the finished task
    assert "already prepared" in capsys.readouterr().out

    model, folder, scores = finetuned_glue(str(tmp_path), "RTE", bpe, task_dir, 7)
    assert os.path.basename(folder).startswith("glue-RTE-rdrop-")
    assert scores["metric"] == "accuracy" and list(scores["seeds"]) == ["7"]
    run = scores["seeds"]["7"]
    assert 0 <= run["best"] <= 100 and scores["mean"] == run["best"]
    assert run["validations"] and all(v["num_updates"] <= 12 for v in run["validations"])
    log = "\n".join(lines(os.path.join(folder, "seed7", "train.log")))
    assert f"Loaded checkpoint {model}" in log  # the stand-in really was restored
    assert '"train_kl_loss"' in log and "--reset-optimizer" in run["command"]
    assert log_lines.finished_training(log.splitlines())  # what --collect waits for


# --- SLURM: a job array of the seeds, collected into scores.json afterwards --------------


def slurm_job(tmp_path, *more):
    """``finetune-glue RTE --slurm-nodes 1 --gpus-per-node 1`` on a stand-in model and data:
    its status and the results dir."""
    data = glue_folder(str(tmp_path / "RTE-bin"))
    model = tmp_path / "model.pt"
    torch.save({"model": {}}, str(model))
    results = tmp_path / "results"
    argv = ["RTE", "--data", data, "--model", str(model), "--seeds", "1,2,3", "--results-dir", str(results)]
    argv += ["--slurm-nodes", "1", "--gpus-per-node", "1", *more, "--", "--arch", "roberta_base"]
    return finetune_glue.main(argv), results


def test_slurm_job_runs_each_seed_as_an_array_task(tmp_path, capsys):
    status, results = slurm_job(tmp_path, "--slurm-time", "1-00:00:00")
    assert status == 0, capsys.readouterr().err
    (folder,) = results.iterdir()  # visible, but no finished run until collected
    assert folder.name.startswith("glue-RTE-rdrop-") and not (folder / "scores.json").exists()
    assert results_dirs.completed_runs(str(results)) == []
    assert sorted(p.name for p in folder.iterdir()) == [
        "finetune.sbatch",
        "job.json",
        "seed1",
        "seed2",
        "seed3",
    ]
    script = (folder / "finetune.sbatch").read_text()
    for option in ("--array=0-2", "--gpus-per-node=1", "--time=1-00:00:00", "--requeue"):
        assert f"#SBATCH {option}\n" in script
    assert "\n".join(slurm.PRECISION_LINES) in script and "rdrop_recipes" not in script
    # a seed cannot resume: no requeue at the time limit (it would start over and over)
    assert "--signal" not in script and "scontrol requeue" not in script
    # each task: the command of the local run (precision decided on the node), into seed<N>/
    cfg = glue_finetuning.resolve(args_for("RTE", "--set", "precision=fp32"))
    job = json.loads((folder / "job.json").read_text())
    for index, seed in enumerate((1, 2, 3)):
        run_dir = str(folder / f"seed{seed}")
        local = glue_finetuning.seed_command(
            cfg | {"recipe": {**cfg["recipe"], "data": str(tmp_path / "RTE-bin")}},
            str(tmp_path / "model.pt"), None, seed, run_dir, Hardware("cuda", 1), ["--arch", "roberta_base"],
        )  # fmt: skip
        line = f"{shlex.join(local[:-2])} ${{PRECISION}} --arch roberta_base"
        assert f"--seed {seed} " in line and f"--save-dir {run_dir}/checkpoints " in line
        assert f"    {index}) " in script
        assert f"srun --kill-on-bad-exit=1 {line} > {run_dir}/train.log 2>&1 ;;" in script
        assert job["seeds"][str(seed)] == line
    proc = subprocess.run(["bash", "-n", str(folder / "finetune.sbatch")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_slurm_dry_run_prints_the_script_and_writes_nothing(tmp_path, capsys):
    status, results = slurm_job(tmp_path, "--dry-run")
    out = capsys.readouterr().out
    assert status == 0 and not results.exists()
    assert "finetune.sbatch (dry run: not written)" in out and "#SBATCH --array=0-2" in out
    assert out.count("srun --kill-on-bad-exit=1 ") == 3


def test_slurm_submit_runs_sbatch(tmp_path, capsys, monkeypatch):
    tools = tmp_path / "tools"
    tools.mkdir()
    (tools / "sbatch").write_text(
        '#!/usr/bin/env bash\necho "$@" > "$(dirname "$0")/calls"; echo "Submitted batch job 9"\n'
    )
    (tools / "sbatch").chmod(0o755)
    monkeypatch.setenv("PATH", f"{tools}{os.pathsep}{os.environ['PATH']}")
    status, results = slurm_job(tmp_path, "--submit")
    assert status == 0, capsys.readouterr().err
    (folder,) = results.iterdir()
    assert (tools / "calls").read_text() == f"{folder / 'finetune.sbatch'}\n"
    assert "Submitted batch job 9" in capsys.readouterr().out


def test_a_refused_slurm_job_leaves_no_results_folder(tmp_path, capsys):
    data = glue_folder(str(tmp_path / "RTE-bin"))
    model = tmp_path / "model.pt"
    torch.save({"model": {}}, str(model))
    slurm_flags = ["--slurm-nodes", "1", "--gpus-per-node", "1"]
    # a model.pt without its architecture, then a results folder no #SBATCH --output can hold
    for results, extra in (
        (tmp_path / "results", []),
        (tmp_path / "my results", ["--", "--arch", "roberta_base"]),
    ):
        argv = ["RTE", "--data", data, "--model", str(model), "--results-dir", str(results), *slurm_flags]
        assert finetune_glue.main(argv + extra) == 2
        assert list(results.iterdir()) == [], capsys.readouterr().err
    err = capsys.readouterr().err
    assert "needs its architecture" in err and "cannot hold a path with spaces" in err


def one_line_error(argv):
    proc = subprocess.run(
        [sys.executable, "-m", "rdrop_recipes.finetune_glue", *argv], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("finetune-glue: error: ")
    return line


def test_more_than_one_gpu_per_seed_is_one_clear_line(tmp_path):
    data = glue_folder(str(tmp_path / "RTE-bin"))
    line = one_line_error(["RTE", "--data", data, "--slurm-nodes", "1", "--gpus-per-node", "2", "--dry-run"])
    assert "trains on one GPU" in line and "--gpus-per-node 1" in line
    line = one_line_error(["RTE", "--data", data, "--gpus-per-node", "1", "--dry-run"])
    assert "goes with --slurm-nodes" in line


def fairseq_log(curve, subset="valid", done=True):
    """A seed's train.log as fairseq-train writes it with --log-format json (``curve``:
    [(num_updates, accuracy)])."""
    lines = ["2026-01-01 10:00:00 | INFO | fairseq_cli.train | task: RTETask\n"]
    for epoch, (updates, value) in enumerate(curve, start=1):
        record = {
            "epoch": epoch, f"{subset}_loss": "0.69", f"{subset}_nll_loss": "0.69",
            f"{subset}_accuracy": str(value), f"{subset}_wps": "812.5", f"{subset}_wpb": "101.3",
            f"{subset}_bsz": "8", f"{subset}_num_updates": str(updates), f"{subset}_best_accuracy": "60",
        }  # fmt: skip
        lines.append(f"2026-01-01 10:0{epoch}:00 | INFO | {subset} | {json.dumps(record)}\n")
        lines.append(
            f'2026-01-01 10:0{epoch}:01 | INFO | train | {{"epoch": {epoch}, "train_loss": "0.7", '
            f'"train_accuracy": "99", "train_num_updates": "{updates}"}}\n'
        )
    if done:
        lines.append("2026-01-01 10:09:00 | INFO | fairseq_cli.train | done training in 540.2 seconds\n")
    return "".join(lines)


def test_collect_writes_the_scores_of_the_seeds_logs(tmp_path, capsys):
    status, results = slurm_job(tmp_path)
    assert status == 0
    (folder,) = results.iterdir()
    # nothing has run yet: the first seed and its log named, the job maybe still running
    line = one_line_error(["--collect", str(folder)])
    assert (
        "seed 1:" in line and str(folder / "seed1" / "train.log") in line and "may still be running" in line
    )
    curves = {1: [(10, 50.0), (20, 62.5), (30, 60.0)], 2: [(10, 55.0), (20, 57.5)], 3: [(10, 70.0)]}
    for seed, curve in curves.items():
        (folder / f"seed{seed}" / "train.log").write_text(fairseq_log(curve, done=seed != 3))
    line = one_line_error(["--collect", str(folder)])
    assert "seed 3: fairseq-train has not finished" in line and "sbatch --array=2 " in line
    (folder / "seed3" / "train.log").write_text(fairseq_log(curves[3]))
    assert not (folder / "scores.json").exists()

    assert finetune_glue.main(["--collect", str(folder)]) == 0
    scores = json.loads((folder / "scores.json").read_text())
    assert results_dirs.completed_runs(str(results)) == [str(folder)]
    local_keys = {"task", "variant", "metric", "model", "data", "created", "seeds", "mean", "stdev"}
    assert set(scores) == local_keys
    assert (scores["task"], scores["variant"], scores["metric"]) == ("RTE", "rdrop", "accuracy")
    assert {s: e["best"] for s, e in scores["seeds"].items()} == {"1": 62.5, "2": 57.5, "3": 70.0}
    assert scores["seeds"]["1"]["best_at_update"] == 20 and scores["seeds"]["1"]["last"] == 60.0
    assert scores["seeds"]["1"]["validations"][0] == {"subset": "valid", "num_updates": 10, "accuracy": 50.0}
    assert scores["mean"] == pytest.approx((62.5 + 57.5 + 70.0) / 3, abs=1e-4)
    job = json.loads((folder / "job.json").read_text())
    assert all(scores["seeds"][s]["command"] == job["seeds"][s] for s in job["seeds"])
    assert "results in" in capsys.readouterr().out
    line = one_line_error(["--collect", str(tmp_path)])
    assert "job.json" in line
