"""Data that cannot be trained on, and settings that do not fit their data (issue 21): each
ends in the one-line error (status 2, one ``error:`` line naming the file and line or the
setting to change, no traceback) before anything that looks complete is written: no
binarized folder, no stage marker of the stage that read the bad input, no results."""

import json
import os
import zipfile

import fabricate_corpora
import pytest
from fabricate_gpt2 import write_gpt2_bpe, write_rte, write_stsb
from test_bad_inputs import one_error_line

from rdrop_recipes import (
    finetune_glue,
    prepare_cnndm,
    prepare_glue,
    prepare_iwslt14,
    prepare_multi30k,
    prepare_wikitext103,
)
from rdrop_recipes.folders.markers import PREPARE_CONFIG


def edit_tsv(path, edit):
    with open(path, encoding="utf-8") as f:
        rows = f.read().splitlines()
    data = edit(rows)
    with open(path, "wb") as f:
        f.write(data if isinstance(data, bytes) else ("\n".join(data) + "\n" if data else "").encode())


def without_column(rows, line, column):
    rows[line - 1] = "\t".join(rows[line - 1].split("\t")[: column - 1])
    return rows


def with_field(rows, line, column, value):
    fields = rows[line - 1].split("\t")
    fields[column - 1] = value
    rows[line - 1] = "\t".join(fields)
    return rows


def latin1(rows):
    rows[2] = rows[2].replace("the", "caf\xe9", 1) if "the" in rows[2] else rows[2] + " caf\xe9"
    return ("\n".join(rows) + "\n").encode("latin-1")


# (task, split, edit, what the one error line names)
GLUE_CASES = {
    "label column missing": ("RTE", "train", lambda r: without_column(r, 4, 4), "train.tsv line 4 has 3"),
    "row without tabs": ("RTE", "dev", lambda r: r[:2] + ["a sentence"] + r[2:], "dev.tsv line 3 has 1"),
    "empty train": ("RTE", "train", lambda r: [], "train.tsv holds no RTE examples;"),
    "header-only train": ("RTE", "train", lambda r: r[:1], "holds no RTE examples (only a header)"),
    "header-only dev": ("RTE", "dev", lambda r: r[:1], "dev.tsv holds no RTE examples"),
    "empty test": ("RTE", "test", lambda r: [], "test.tsv holds no RTE examples"),
    "not UTF-8": ("RTE", "train", latin1, "train.tsv line 3 is not UTF-8 text"),
    "unknown label": ("RTE", "train", lambda r: with_field(r, 5, 4, "entailed"), "line 5: label 'entailed'"),
    "two labels in one": (
        "RTE",
        "dev",
        lambda r: with_field(r, 2, 4, "entailment not_entailment"),
        "dev.tsv line 2: label",
    ),
    "a class never in train": (
        "RTE",
        "train",
        lambda r: r[:1] + [with_field([x], 1, 4, "entailment")[0] for x in r[1:]],
        "no example labelled 'not_entailment'",
    ),
    "score not a number": ("STS-B", "train", lambda r: with_field(r, 3, 10, "n/a"), "line 3: 'n/a'"),
    "score above 5": ("STS-B", "dev", lambda r: with_field(r, 2, 10, "42"), "dev.tsv line 2: '42'"),
}


@pytest.mark.parametrize("case", list(GLUE_CASES))
def test_glue_rows_that_cannot_be_trained_on(tmp_path, capsys, case):
    task, split, edit, named = GLUE_CASES[case]
    bpe = write_gpt2_bpe(str(tmp_path / "bpe"))
    glue = tmp_path / "glue"
    (write_rte if task == "RTE" else write_stsb)(str(glue), n_train=8, n_dev=4)
    edit_tsv(glue / task / f"{split}.tsv", edit)
    data_bin = tmp_path / "data-bin"
    argv = [task, "--glue-dir", glue, "--bpe-dir", bpe, "--offline", "--data-bin", data_bin, "--workers", "1"]
    assert prepare_glue.main(list(map(str, argv))) == 2
    line = one_error_line(capsys.readouterr().err, "prepare-glue")
    assert named in line and str(glue / task) in line, line
    assert any(fix in line for fix in ("re-run", "put the", "use the whole")), line
    assert not (data_bin / f"{task}-bin").exists()
    assert not (glue / task / "processed" / ".prepare" / "columns.done").exists()


def test_other_recipes_refuse_empty_splits_and_non_utf8_text(tmp_path, capsys):
    # CNN/DM: the six raw files of --raw-dir
    raw = tmp_path / "cnndm"
    raw.mkdir()
    for split in ("train", "val", "test"):
        for side in ("source", "target"):
            (raw / f"{split}.{side}").write_text(f"one {split} {side}\nanother\n")
    work = tmp_path / "cnndm-work"
    argv = ["--raw-dir", raw, "--out-dir", work, "--data-bin", tmp_path / "cnndm-bin", "--offline"]
    argv = list(map(str, argv + ["--bpe-dir", write_gpt2_bpe(str(tmp_path / "bpe"))]))
    (raw / "val.target").write_bytes(b"fine\nna\xefve\n")
    assert prepare_cnndm.main(argv) == 2
    assert "val.target line 2 is not UTF-8" in one_error_line(capsys.readouterr().err, "prepare-cnndm")
    (raw / "val.target").write_text("")
    (raw / "val.source").write_text("")
    assert prepare_cnndm.main(argv) == 2
    assert "empty valid split" in one_error_line(capsys.readouterr().err, "prepare-cnndm")
    # a last line without its newline is still a line: counted, not "2 lines but 1"
    (raw / "val.source").write_text("an article\nthe last one")
    (raw / "val.target").write_bytes(b"a summary\nna\xefve")
    assert prepare_cnndm.main(argv) == 2
    assert "val.target line 2 is not UTF-8" in one_error_line(capsys.readouterr().err, "prepare-cnndm")
    assert not (tmp_path / "cnndm-bin").exists() and not os.listdir(work / ".prepare")[1:]

    # Multi30k: --from-dir holding the release's files
    source = tmp_path / "multi30k"
    source.mkdir()
    for split in ("train", "val", "test_2016_flickr"):
        for lang in ("de", "en"):
            (source / f"{split}.{lang}").write_text("ein satz\n" if lang == "de" else "a sentence\n")
    argv = ["--from-dir", source, "--out-dir", tmp_path / "m30k", "--data-bin", tmp_path / "m30k-bin"]
    argv = list(map(str, argv + ["--workers", "1"]))
    (source / "val.en").write_bytes(b"a sentence\nsecond\n\xff\n")
    (source / "val.de").write_text("ein satz\nzwei\ndrei\n")
    assert prepare_multi30k.main(argv) == 2
    assert "val.en line 3 is not UTF-8" in one_error_line(capsys.readouterr().err, "prepare-multi30k")
    for lang in ("de", "en"):
        (source / f"test_2016_flickr.{lang}").write_text("")
        (source / f"val.{lang}").write_text("fine\n")
    assert prepare_multi30k.main(argv) == 2
    assert "empty test split" in one_error_line(capsys.readouterr().err, "prepare-multi30k")
    assert not (tmp_path / "m30k-bin").exists()
    assert not (tmp_path / "m30k" / ".prepare" / "fetch.done").exists()

    # WikiText-103: an archive whose valid split is empty, then one with a byte that is not UTF-8
    archive = tmp_path / "wikitext-103-v1.zip"
    for text, named in ((b"", "wiki.valid.tokens from"), (b" = Z\xfcrich = \n", "line 1 is not UTF-8")):
        texts = fabricate_corpora.make_wikitext103_zip(str(archive))
        with zipfile.ZipFile(archive, "w") as zipped:
            for split, body in texts.items():
                data = text if split == "valid" else body.encode()
                zipped.writestr(f"wikitext-103/wiki.{split}.tokens", data)
        argv = ["--archive", archive, "--out-dir", tmp_path / "wt", "--data-bin", tmp_path / "wt-bin"]
        assert prepare_wikitext103.main(list(map(str, argv))) == 2
        assert named in one_error_line(capsys.readouterr().err, "prepare-wikitext103")
        assert not (tmp_path / "wt-bin").exists()
        assert not (tmp_path / "wt" / ".prepare" / "extract.done").exists()


def test_cleaning_that_leaves_no_train_pair_is_refused(tmp_path, capsys):
    archive = tmp_path / "de-en.tgz"
    fabricate_corpora.make_iwslt_archive(str(archive), train_pairs=30)
    out, data_bin = tmp_path / "out", tmp_path / "bin"
    argv = ["--archive", archive, "--out-dir", out, "--data-bin", data_bin, "--workers", "1"]
    argv = list(map(str, argv))
    # refused before any stage: no pair can be both >= 5 and <= 3 tokens long
    assert prepare_iwslt14.main([*argv, "--set", "clean.min_tokens=5", "--set", "clean.max_tokens=3"]) == 2
    assert "clean.min_tokens = 5 is above" in one_error_line(capsys.readouterr().err, "prepare-iwslt14")
    assert not out.exists()
    # every fabricated sentence is longer than 2 tokens: cleaning keeps none
    assert prepare_iwslt14.main([*argv, "--set", "clean.max_tokens=2"]) == 2
    line = one_error_line(capsys.readouterr().err, "prepare-iwslt14")
    assert "cleaning left none of the" in line and "--set clean.max_tokens" in line
    assert not (out / ".prepare" / "clean-train.done").exists() and not data_bin.exists()
    assert not [name for name in os.listdir(out / "tmp") if name.startswith("train.tags.de-en.de-en")]


def glue_data(folder, task="RTE", classes=("entailment", "not_entailment"), stamp=True, scores=False):
    """A prepared task folder as prepare-glue leaves it (its binaries left out: nothing here reads them)."""
    os.makedirs(os.path.join(folder, "input0"))
    os.makedirs(os.path.join(folder, "label"))
    open(os.path.join(folder, "input0", "dict.txt"), "w").close()
    if scores:
        with open(os.path.join(folder, "label", "train.label"), "w") as f:
            f.write("0.5\n0.25\n")
    else:
        with open(os.path.join(folder, "label", "dict.txt"), "w") as f:
            f.writelines(f"{name} {10 - i}\n" for i, name in enumerate(classes))
            f.writelines(f"madeupword{i:04d} 0\n" for i in range(8 - 4 - len(classes)))
    if stamp:
        with open(os.path.join(folder, PREPARE_CONFIG), "w") as f:
            json.dump({"task": {"name": task, "regression": scores}}, f)
    return str(folder)


SETTINGS_CASES = {
    "--set num_classes=5": (["RTE", "--set", "num_classes=5"], "num_classes is 5, but", "num_classes=2"),
    "-- --num-classes 5": (["RTE", "--", "--num-classes", "5"], "--num-classes' is 5", "num_classes=2"),
    "fewer heads than classes": (["RTE", "--set", "num_classes=1"], "has 2 classes", "--set num_classes=2"),
    "STS-B on RTE's folder": (["STS-B"], "was prepared for RTE, not STS-B", "prepare-glue.sh STS-B"),
    "STS-B on an unstamped class folder": (["STS-B", "nostamp"], "holds class labels", "STS-B-bin"),
    "RTE on STS-B's scores": (["RTE", "scores"], "holds similarity scores", "RTE-bin"),
    "regression_target on RTE": (["RTE", "--", "--regression-target"], "class labels", "drop"),
    "a seed twice": (["RTE", "--seeds", "1,2,1"], "seed 1 more than once", "--seeds 1,2"),
    "a negative seed": (["RTE", "--seeds", "-1"], "seed -1 is outside", "--seeds"),
}


@pytest.mark.parametrize("case", list(SETTINGS_CASES))
def test_glue_settings_that_do_not_fit_the_data(tmp_path, capsys, case):
    argv, named, fix = SETTINGS_CASES[case]
    task, argv = argv[0], argv[1:]
    kind = argv.pop(0) if argv and argv[0] in ("nostamp", "scores") else ""
    data = glue_data(
        tmp_path / "bin", "STS-B" if kind == "scores" else "RTE", stamp=not kind, scores=kind == "scores"
    )
    results = tmp_path / "results"
    cut = argv.index("--") if "--" in argv else len(argv)
    ours = [task, "--data", data, "--cpu", "--results-dir", str(results), "--model", "roberta.base"]
    assert finetune_glue.main([*ours, *argv[:cut], "--dry-run", *argv[cut:]]) == 2
    line = one_error_line(capsys.readouterr().err, "finetune-glue")
    assert named in line and fix in line, line
    assert not results.exists()
    # the same folder and settings without the mistake plan their run
    if kind == "" and case != "STS-B on RTE's folder":
        assert finetune_glue.main([*ours, "--dry-run"]) == 0
        assert "--num-classes 2" in capsys.readouterr().out
