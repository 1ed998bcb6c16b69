"""CNN/DM recipe: fabricated raw articles in fairseq's BART layout, a
fabricated GPT-2 BPE and a tiny random BART saved as a checkpoint stand in for
the real ones. prepare-cnndm -> finetune-cnndm (R-Drop) -> summaries -> ROUGE
file; ROUGE against hand counts; the training command; errors."""

import json
import os
import tarfile

import pytest
from fabricate_gpt2 import TINY_BART, lines, save_pretrained, write_cnndm, write_gpt2_bpe

from rdrop_recipes import evaluate_cnndm, finetune_cnndm, prepare_cnndm
from rdrop_recipes.evaluation import summarization
from rdrop_recipes.preparation import cnndm
from rdrop_recipes.process.errors import PrepareError, RecipeError
from rdrop_recipes.training import bart_finetuning


def test_rouge_matches_hand_counts():
    # unigrams: 2 of 3 shared both ways -> F1 2/3; bigrams: "the cat" of 2 -> 1/2
    scores = summarization.rouge(["the cat sat"], ["the cat ran"])
    assert scores["rouge1"]["f1"] == pytest.approx(66.67, abs=0.01)
    assert scores["rouge2"]["f1"] == pytest.approx(50.0, abs=0.01)
    assert scores["rougeL"]["f1"] == pytest.approx(66.67, abs=0.01)
    # stemming: "running" and "runs" share the stem "run"; identical text is 100 everywhere
    assert summarization.rouge(["dogs running"], ["dog runs"])["rouge1"]["f1"] == 100.0
    perfect = summarization.rouge(["A b c. D e f."] * 2, ["A b c. D e f."] * 2)
    assert all(v["f1"] == 100.0 for v in perfect.values())
    # rougeLsum works per sentence: swapping two sentences costs it less than rougeL
    swapped = summarization.rouge(["d e f. a b c."], ["a b c. d e f."])
    assert swapped["rougeLsum"]["f1"] == 100.0 and swapped["rougeL"]["f1"] == 50.0


def test_summaries_are_paired_by_id():
    out = ["S-1\tsrc\n", "T-1\tsecond ref\n", "H-1\t-0.5\t1 2\n", "D-1\t-0.5\tsecond hyp\n"]
    out += ["T-0\tfirst ref\n", "D-0\t-0.2\t\n"]
    assert summarization.read_summaries(out) == (["", "second hyp"], ["first ref", "second ref"])
    with pytest.raises(RecipeError, match="do not pair up"):
        summarization.read_summaries(["T-0\tref\n"])


def test_raw_files_come_from_a_folder_or_an_archive(tmp_path):
    raw = write_cnndm(str(tmp_path / "cnn_dm"), n_train=3, n_val=2, n_test=2)
    archive = tmp_path / "cnn_dm.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(raw, arcname="cnn_dm")
    out = str(tmp_path / "unpacked")
    cnndm.extract_archive(str(archive), out)
    assert lines(os.path.join(out, "val.target")) == lines(os.path.join(raw, "val.target"))
    assert sorted(cnndm.check_raw(out)) == sorted(cnndm.raw_files(out))

    with open(os.path.join(raw, "test.target"), "a") as f:
        f.write("one summary too many.\n")
    with pytest.raises(PrepareError, match="test.source has 2 lines but test.target has 3"):
        cnndm.check_raw(raw)
    os.remove(os.path.join(raw, "train.source"))
    with pytest.raises(PrepareError, match="lacks train.source"):
        cnndm.check_raw(raw)
    (tmp_path / "page.tar.gz").write_text("<html>not found</html>")
    with pytest.raises(PrepareError, match="not a tar archive"):
        cnndm.extract_archive(str(tmp_path / "page.tar.gz"), out)


def test_missing_inputs_are_one_line_errors(tmp_path, capsys):
    bpe = write_gpt2_bpe(str(tmp_path / "bpe"))
    argv = [
        "--bpe-dir",
        bpe,
        "--offline",
        "--out-dir",
        str(tmp_path / "w"),
        "--data-bin",
        str(tmp_path / "b"),
    ]
    assert prepare_cnndm.main(argv) == 2
    assert "--raw-dir DIR or --archive" in capsys.readouterr().err
    assert prepare_cnndm.main(argv + ["--raw-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "lacks train.source" in err
    model = ["--model", "bart.large", "--model-dir", str(tmp_path / "models"), "--offline", "--cpu"]
    assert finetune_cnndm.main(model) == 2
    assert "--model-archive" in capsys.readouterr().err
    argv = ["--checkpoint", str(tmp_path / "none.pt"), "--data", str(tmp_path), "--bpe-dir", bpe, "--offline"]
    assert evaluate_cnndm.main(argv) == 2
    assert "no binarized test split" in capsys.readouterr().err


def fake_data_bin(folder):
    os.makedirs(folder)
    for name in ("dict.source.txt", "dict.target.txt"):
        open(os.path.join(folder, name), "w").close()
    for split in ("train", "valid"):
        for lang in ("source", "target"):
            for ext in ("bin", "idx"):
                open(os.path.join(folder, f"{split}.source-target.{lang}.{ext}"), "w").close()
    return folder


def test_dry_run_is_bart_fine_tuning_with_rdrop(tmp_path, capsys):
    data = fake_data_bin(str(tmp_path / "bin"))
    argv = ["--dry-run", "--cpu", "--data", data, "--model", "bart.large", "--model-dir", str(tmp_path)]
    assert finetune_cnndm.main(argv) == 0
    command = [l for l in capsys.readouterr().out.splitlines() if "fairseq_cli.train" in l][-1]
    expected = [
        f"--restore-file {tmp_path}/bart.large/model.pt", "--arch bart_large", "--task rdrop_translation",
        "--criterion reg_label_smoothed_cross_entropy", "--reg-alpha 0.7", "--label-smoothing 0.1",
        "--reset-optimizer", "--reset-dataloader", "--reset-meters", "--lr 3e-05", "--clip-norm 0.1",
        "--total-num-update 20000", "--warmup-updates 500", "--truncate-source", "--update-freq 32",
    ]  # fmt: skip
    for flag in expected:
        assert flag in command, flag
    assert finetune_cnndm.main(argv + ["--variant", "baseline"]) == 0
    command = [l for l in capsys.readouterr().out.splitlines() if "fairseq_cli.train" in l][-1]
    assert "--criterion label_smoothed_cross_entropy" in command and "--reg-alpha" not in command


def test_generation_settings_reach_the_evaluation():
    config = finetune_cnndm.recipe_config.default_config_path("finetune-cnndm")
    head = ["--set", "lr=1e-4", "--set", "min_len=5", "--cpu", "--set", "generate.beam=2"]
    assignments = finetune_cnndm.parse_args(head).assignments
    forwarded = bart_finetuning.generation_settings(config, assignments)
    assert [word for a in forwarded for word in ("--set", a)] == [
        "--set",
        "min_len=5",
        "--set",
        "generate.beam=2",
    ]


@pytest.mark.slow
def test_prepare_finetune_and_score_a_tiny_bart(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    bpe = write_gpt2_bpe(str(tmp_path / "bpe"))
    raw = write_cnndm(str(tmp_path / "cnn_dm"))
    data = str(tmp_path / "cnn_dm-bin")
    argv = ["--raw-dir", raw, "--bpe-dir", bpe, "--offline", "--out-dir", str(tmp_path / "work")]
    assert prepare_cnndm.main(argv + ["--data-bin", data, "--workers", "1"]) == 0
    assert lines(os.path.join(data, "dict.source.txt")) == lines(os.path.join(bpe, "dict.txt"))
    assert lines(os.path.join(data, "dict.target.txt")) == lines(os.path.join(bpe, "dict.txt"))
    model = save_pretrained(
        str(tmp_path / "tiny-bart" / "model.pt"),
        "translation",
        data,
        ["-s", "source", "-t", "target", *TINY_BART],
    )
    results = str(tmp_path / "results")
    argv = [
        "--model", model, "--data", data, "--bpe-dir", bpe, "--offline", "--results-dir", results,
        "--save-dir", str(tmp_path / "ck"), "--cpu",
        "--set", "max_update=16", "--set", "total_num_update=16", "--set", "warmup_updates=2",
        "--set", "lr=1e-3", "--set", "update_freq=1", "--set", "max_tokens=4096", "--set", "log_interval=4",
        "--set", "min_len=3", "--set", "max_len_b=20",
        "--", *TINY_BART,
    ]  # fmt: skip
    assert finetune_cnndm.main(argv) == 0
    log = "\n".join(lines(str(tmp_path / "ck" / "train.log")))
    assert f"Loaded checkpoint {model}" in log and "kl_loss" in log
    (folder,) = os.listdir(results)
    with open(os.path.join(results, folder, "scores.json")) as f:
        scores = json.load(f)
    assert scores["articles"] == 8 and scores["generate"]["min_len"] == 3
    assert scores["generate"]["beam"] == 4 and scores["generate"]["lenpen"] == 2.0
    assert set(scores["rouge"]) == {"rouge1", "rouge2", "rougeL", "rougeLsum"}
    assert all(0.0 <= v["f1"] <= 100.0 for v in scores["rouge"].values())
    # references went through GPT-2 BPE, binarization and back: the raw summaries, in order
    assert lines(os.path.join(results, folder, "references.txt")) == lines(os.path.join(raw, "test.target"))
    assert len(lines(os.path.join(results, folder, "hypotheses.txt"))) == 8
