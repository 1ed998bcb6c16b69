"""GLUE recipe: fabricated GLUE folders in the download_glue_data.py layout,
a fabricated GPT-2 BPE, and a tiny random RoBERTa saved as a checkpoint stand
in for the real ones. prepare-glue -> finetune-glue (R-Drop) ->
scores.json; the column layout of every task; config resolution; errors."""

import json
import os

import pytest
import torch
from fabricate_gpt2 import finetuned_glue, lines, prepared_glue, write_gpt2_bpe, write_rte, write_stsb

from rdrop_recipes import finetune_glue, prepare_glue
from rdrop_recipes.fairseq_io import log_lines
from rdrop_recipes.folders.markers import PREPARE_CONFIG
from rdrop_recipes.preparation import glue
from rdrop_recipes.process.errors import PrepareError, RecipeError
from rdrop_recipes.training import glue_finetuning


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
