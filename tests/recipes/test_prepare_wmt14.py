"""scripts/prepare-wmt14en2de.sh: the WMT-specific rules on hand-made input,
then whole runs on fabricated archives in the real layouts (no network)."""

import os
import shutil
import tarfile

import fabricate_corpora  # noqa: E402
import pytest
from toy_corpus import run_script  # noqa: E402

from rdrop_recipes import prepare_wmt14  # noqa: E402
from rdrop_recipes.preparation.bpe_recipe import SPLITS  # noqa: E402
from rdrop_recipes.preparation.wmt14 import Wmt14Recipe  # noqa: E402
from rdrop_recipes.text.cleaning import LineProcessor, extract_segments, remove_non_printing  # noqa: E402
from rdrop_recipes.text.parallel_lines import map_lines  # noqa: E402

# -- pure rules ----------------------------------------------------------------


def test_sgml_segments():
    sgm = [
        '<refset trglang="de" setid="newstest2014" srclang="any">',
        '<doc sysid="ref" docid="1-x" genre="news" origlang="de">',
        '<seg id="1">Gutach: Noch mehr Sicherheit f\u00fcr Fu\u00dfg\u00e4nger</seg>',
        '<seg id="2">  Es ist Bill\u2019s Ampel.  </seg>',
        "</doc>",
        "</refset>",
    ]
    assert list(extract_segments(sgm)) == [
        "Gutach: Noch mehr Sicherheit f\u00fcr Fu\u00dfg\u00e4nger",
        "Es ist Bill's Ampel.",
    ]


def test_remove_non_printing_turns_category_c_into_spaces():
    assert remove_non_printing("a\u0007b\u200bc\u00a0d") == "a b c\u00a0d"  # Cc, Cf go; Zs stays
    assert remove_non_printing("plain text") == "plain text"


def test_wmt_line_processor_normalizes_then_splits_hyphens_aggressively():
    de = LineProcessor(
        "de", normalize_punctuation=True, remove_non_printing=True, aggressive_dash_splits=True
    ).build()
    assert de("\u201eDas E-Mail-Konto\u201c \u2013 gut.") == "&quot; Das E @-@ Mail @-@ Konto &quot; - gut ."
    en = LineProcessor("en", aggressive_dash_splits=True).build()
    assert en("It's a state-of-the-art test.") == "It &apos;s a state @-@ of @-@ the @-@ art test ."


class Upper:
    def build(self):
        return str.upper


def test_parallel_map_keeps_line_order():
    lines = [f"line {i}" for i in range(5003)]
    assert list(map_lines(Upper(), iter(lines), workers=2, chunk_lines=100)) == [s.upper() for s in lines]


def test_every_config_key_is_read_from_the_toml():
    config, _ = Wmt14Recipe.configure([])
    assert config["bpe"]["merges"] == 32000 and config["clean"]["max_tokens"] == 250
    assert config["tokenize"]["aggressive_dash_splits"] is True
    assert config["run"]["workers"] == (os.cpu_count() or 1)
    assert [key for key, _ in config["train"]["corpora"]] == ["europarl", "commoncrawl", "news_commentary"]


# -- locating archives ------------------------------------------------------------


def test_sources_archive_flags_dir_trees_and_downloads(tmp_path):
    fabricate_corpora.wmt_archives(str(tmp_path / "a"))
    tree = tmp_path / "tree"
    with tarfile.open(str(tmp_path / "a" / "test-full.tgz")) as archive:
        archive.extractall(str(tree), filter="data")
    config, _ = Wmt14Recipe.configure(
        [
            "--archive-dir",
            str(tree),
            "--archive",
            str(tmp_path / "a" / "dev.tgz"),
            "--out-dir",
            str(tmp_path / "o"),
        ],
    )
    sources = Wmt14Recipe(config).sources
    assert sources["test"].kind == "tree" and sources["dev"].kind == "archive"
    assert sources["europarl"].kind == "download"
    assert sources["europarl"].path.endswith(os.path.join("o", "orig", "training-parallel-europarl-v7.tgz"))


# -- whole runs ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    root = tmp_path_factory.mktemp("wmt14")
    raw = fabricate_corpora.wmt_archives(str(root / "archives"))
    out, data_bin = str(root / "out"), str(root / "data-bin")
    args = ["--archive-dir", root / "archives", "--no-download", "--bpe-merges", "80", "--workers", "2"]
    result = run_script(
        "prepare-wmt14en2de.sh", *args, "--out-dir", out, "--data-bin", data_bin, cwd=str(root)
    )
    return {"root": root, "raw": raw, "out": out, "data_bin": data_bin, "result": result}


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


def independent_train_count(out):
    """clean-corpus-n -ratio 1.5 ... 1 250 written out plainly, on the BPE'd train."""
    en, de = (read(os.path.join(out, "tmp", f"bpe.train.{l}")) for l in ("en", "de"))
    kept = 0
    for e, d in zip(en, de):
        ne, nd = len(e.split()), len(d.split())
        kept += 1 <= ne <= 250 and 1 <= nd <= 250 and ne <= 1.5 * nd and nd <= 1.5 * ne
    return kept


@pytest.mark.slow
def test_full_run_counts(prepared):
    assert prepared["result"].returncode == 0, prepared["result"].stderr
    out, raw = prepared["out"], prepared["raw"]
    assert len(read(os.path.join(out, "tmp", "train.en"))) == sum(len(p) for p in raw["train"].values())
    expected = {"train": independent_train_count(out), "valid": len(raw["valid"]), "test": len(raw["test"])}
    assert 0 < expected["train"] < sum(len(p) for p in raw["train"].values())  # cleaning did drop some
    for split in SPLITS:
        en, de = (read(os.path.join(out, f"{split}.{l}")) for l in ("en", "de"))
        assert len(en) == len(de) == expected[split], split
    assert f"train {expected['train']} / valid 6 / test 7" in prepared["result"].stdout


@pytest.mark.slow
def test_full_run_normalizes_splits_hyphens_and_keeps_case(prepared):
    out = prepared["out"]
    train_de = read(os.path.join(out, "tmp", "train.de"))
    train_en = read(os.path.join(out, "tmp", "train.en"))
    assert "&quot; So &quot; ist es - gut ." in train_de  # „“ and – normalized
    assert "A test with control characters ." in train_en  # \a -> space, then collapsed
    assert any("E @-@ Mail @-@ Konto" in line for line in train_de)  # -a
    test_de = read(os.path.join(out, "tmp", "test.de"))
    assert test_de[0] == "Es ist Bill &apos; s Fu\u00dfg\u00e4nger @-@ Ampel ."  # U+2019 fix, no lowercasing
    assert "@@ " in "\n".join(read(os.path.join(out, "train.en")))


@pytest.mark.slow
def test_full_run_data_bin(prepared):
    for name in (
        "dict.en.txt",
        "dict.de.txt",
        "train.en-de.en.bin",
        "valid.en-de.de.idx",
        "test.en-de.de.bin",
    ):
        assert os.path.isfile(os.path.join(prepared["data_bin"], name)), name


@pytest.mark.slow
def test_rerun_after_interruption_gives_the_same_output(prepared, tmp_path):
    out, data_bin = str(tmp_path / "out"), str(tmp_path / "data-bin")
    shutil.copytree(prepared["out"], out)
    shutil.copytree(prepared["data_bin"], data_bin)
    texts = {p: read(os.path.join(out, p)) for p in ("train.en", "train.de", "valid.de", "test.en", "code")}
    dictionary = read(os.path.join(data_bin, "dict.en.txt"))
    os.remove(os.path.join(out, ".prepare", "clean.done"))
    with open(os.path.join(out, "train.en.tmp"), "w") as half:
        half.write("half")
    archives = str(prepared["root"] / "archives")
    assert (
        prepare_wmt14.main(
            [
                "--archive-dir",
                archives,
                "--no-download",
                "--bpe-merges",
                "80",
                "--workers",
                "1",
                "--out-dir",
                out,
                "--data-bin",
                data_bin,
            ]
        )
        == 0
    )
    assert {p: read(os.path.join(out, p)) for p in texts} == texts
    assert read(os.path.join(data_bin, "dict.en.txt")) == dictionary
    assert not os.path.exists(os.path.join(out, "train.en.tmp"))


# -- user errors -----------------------------------------------------------------------


def expect_error(capsys, args, *fragments):
    assert prepare_wmt14.main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("prepare-wmt14en2de: error: "), err
    for fragment in fragments:
        assert fragment in err[0]


def test_missing_archive_without_download(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    expect_error(
        capsys,
        ["--archive-dir", str(tmp_path / "empty"), "--no-download", "--out-dir", str(tmp_path / "o")],
        "training-parallel-europarl-v7.tgz not found",
        "--archive-dir",
    )


def test_unknown_archive_name(tmp_path, capsys):
    path = tmp_path / "europarl.tgz"
    path.write_bytes(b"")
    expect_error(
        capsys,
        ["--archive", str(path), "--out-dir", str(tmp_path / "o")],
        "unknown file name",
        "training-parallel-nc-v9.tgz",
    )


def test_corrupt_archive(tmp_path, capsys):
    archives = tmp_path / "a"
    fabricate_corpora.wmt_archives(str(archives))
    (archives / "dev.tgz").write_bytes(b"<!DOCTYPE html><html>moved</html>")
    expect_error(
        capsys,
        ["--archive-dir", str(archives), "--no-download", "--out-dir", str(tmp_path / "o")],
        "dev.tgz is not a gzip file",
        "dev.tgz again",
    )


def test_archive_missing_the_sgml(tmp_path, capsys):
    archives = tmp_path / "a"
    fabricate_corpora.wmt_archives(str(archives))
    fabricate_corpora.write_tgz(str(archives / "test-full.tgz"), {"test-full/readme.txt": "nothing\n"})
    expect_error(
        capsys,
        [
            "--archive-dir",
            str(archives),
            "--no-download",
            "--workers",
            "1",
            "--out-dir",
            str(tmp_path / "o"),
            "--data-bin",
            str(tmp_path / "b"),
        ],
        "lacks test-full/newstest2014-deen-",
        "test-full.tgz",
    )
