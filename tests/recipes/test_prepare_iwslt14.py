"""scripts/prepare-iwslt14.sh: the pure rules on hand-made input, then whole
runs on a fabricated de-en.tgz in the real layout (no network, no perl)."""

import os
import shutil
import tarfile

import fabricate_corpora  # noqa: E402
import pytest
from toy_corpus import run_script  # noqa: E402

from rdrop_recipes import prepare_iwslt14  # noqa: E402
from rdrop_recipes.config import recipe_config  # noqa: E402
from rdrop_recipes.folders import prepared_dirs as output_dirs
from rdrop_recipes.preparation.bpe_recipe import SPLITS  # noqa: E402
from rdrop_recipes.process.errors import RecipeError  # noqa: E402
from rdrop_recipes.text.cleaning import CleanRule, every_nth, extract_segments, filter_train_lines  # noqa: E402

DROP = ["<url>", "<talkid>", "<keywords>"]
TAGS = ["<title>", "</title>", "<description>", "</description>"]


# -- pure rules ----------------------------------------------------------------


def test_train_tag_filter_drops_header_lines_and_strips_title_description():
    raw = [
        "<url>http://www.ted.com/talks/x.html</url>",
        "<keywords>talks, science</keywords>",
        "<talkid>7</talkid>",
        "<title>Ein Titel</title>",
        "<description>TED Talk: eine Beschreibung</description>",
        "Ein ganz normaler Satz.",
        "Er schrieb <url> in den Text.",
    ]
    assert list(filter_train_lines(raw, DROP, TAGS)) == [
        "Ein Titel",
        "TED Talk: eine Beschreibung",
        "Ein ganz normaler Satz.",
    ]


def test_xml_segments_are_the_seg_lines_without_tags():
    xml = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        "<mteval>",
        '<doc docid="1" genre="lectures">',
        "<title>Not a segment</title>",
        "<talkid>1</talkid>",
        '<seg id="1"> Das ist Bill\u2019s Haus. </seg>',
        '<seg id="2">Zweiter Satz.</seg>',
        "</doc>",
        "</mteval>",
    ]
    assert list(extract_segments(xml)) == ["Das ist Bill's Haus.", "Zweiter Satz."]
    assert list(extract_segments(xml, apostrophe_fix=False))[0] == "Das ist Bill\u2019s Haus."


def test_every_23rd_line_goes_to_valid():
    lines = [f"l{i}" for i in range(1, 70)]
    train, valid = every_nth(lines, 23)
    assert valid == ["l23", "l46", "l69"]
    assert len(train) == 66 and "l23" not in train and train[:2] == ["l1", "l2"]


@pytest.mark.parametrize(
    "src,tgt,kept",
    [
        ("a b c", "x y z", True),
        ("a b", "x y z", True),  # 1.5 exactly is allowed
        ("a", "x y", False),  # ratio 2
        ("a b c d", "x y", False),  # ratio 2 the other way
        ("", "x", False),  # empty side
        ("   ", "x", False),  # blank after trimming
        (" ".join("a" * 175), " ".join("b" * 175), True),
        (" ".join("a" * 176), " ".join("b" * 175), False),
    ],
)
def test_clean_rule_like_clean_corpus_n(src, tgt, kept):
    assert (
        len(list(CleanRule(ratio=1.5, min_tokens=1, max_tokens=175).filter_pairs([(src, tgt)]))) == 1
    ) is kept


def test_clean_rule_collapses_whitespace_and_drops_pipes_when_not_factored():
    rule = CleanRule()
    assert list(rule.filter_pairs([("a b", "x y"), ("  a \t b  ", "x | y")])) == [("a b", "x y")] * 2
    # a first pair with "|" marks the corpus factored: pipes stay, as in the perl
    assert list(rule.filter_pairs([("a|N b|V", "x|N y|V")])) == [("a|N b|V", "x|N y|V")]
    assert list(rule.filter_pairs([("a " + "w" * 1001, "x y")])) == []  # max word length


def test_set_overrides_dotted_underscored_and_bare_and_type_checked():
    config = {"bpe": {"merges": 10000, "code": ""}, "clean": {"ratio": 1.5}, "split": {"test_sets": ["a"]}}
    out = recipe_config.apply_overrides(
        config, ["bpe.merges=50", "clean_ratio=2", "code=x.code", 'split.test_sets=["b", "c"]']
    )
    assert out["bpe"]["merges"] == 50 and out["clean"]["ratio"] == 2.0 and out["bpe"]["code"] == "x.code"
    assert out["split"]["test_sets"] == ["b", "c"] and config["bpe"]["merges"] == 10000
    with pytest.raises(RecipeError, match="bpe.merge: unknown key"):
        recipe_config.apply_overrides(config, ["bpe.merge=5"])
    with pytest.raises(RecipeError, match="expected an integer"):
        recipe_config.apply_overrides(config, ["bpe.merges=many"])
    with pytest.raises(RecipeError, match="expected true or false"):
        recipe_config.apply_overrides({"t": {"on": True}}, ["on=1"])


def test_set_refuses_an_ambiguous_key_and_reaches_nested_tables():
    config = {"valid": {"clean": False}, "test": {"clean": False}, "v": {"big": {"n": 1}}}
    with pytest.raises(RecipeError, match="ambiguous key; say which: valid.clean or test.clean"):
        recipe_config.apply_overrides(config, ["clean=true"])
    out = recipe_config.apply_overrides(config, ["test_clean=true", "v.big.n=2"])
    assert out["test"]["clean"] is True and out["valid"]["clean"] is False and out["v"]["big"]["n"] == 2
    with pytest.raises(RecipeError, match="no table 'small' in v"):
        recipe_config.apply_overrides(config, ["v.small.n=2"])


def test_every_config_key_is_read_from_the_toml():
    config = recipe_config.load(recipe_config.default_config_path("prepare-iwslt14"))
    assert config["bpe"]["merges"] == 10000 and config["clean"]["max_tokens"] == 175
    assert config["split"]["valid_every"] == 23 and config["tokenize"]["escape"] is True


# -- whole runs -------------------------------------------------------------------


def independent_counts(raw):
    """Split sizes recomputed here from the fabricated text: tag rule, Moses
    tokenization, the cleaning rule written out plainly, every 23rd line."""
    from sacremoses import MosesTokenizer

    de_tok, en_tok = MosesTokenizer(lang="de"), MosesTokenizer(lang="en")
    de, en = raw["train"]
    kept = 0
    for d, e in zip(de, en):
        if any(marker in d for marker in DROP):
            continue
        for tag in TAGS:
            d, e = d.replace(tag, ""), e.replace(tag, "")
        nd = len(de_tok.tokenize(d, return_str=True).split())
        ne = len(en_tok.tokenize(e, return_str=True).split())
        if 1 <= nd <= 175 and 1 <= ne <= 175 and nd <= 1.5 * ne and ne <= 1.5 * nd:
            kept += 1
    test = sum(len(segs) for segs in raw["test"].values())
    return {"train": kept - kept // 23, "valid": kept // 23, "test": test}


def run_recipe(*args):
    return prepare_iwslt14.main(["--bpe-merges", "50", "--workers", "1", *args])


@pytest.fixture(scope="module")
def prepared(tmp_path_factory):
    """One end-to-end run through the bash front door, as a user runs it."""
    root = tmp_path_factory.mktemp("iwslt14")
    archive = str(root / "de-en.tgz")
    raw = fabricate_corpora.make_iwslt_archive(archive)
    out, data_bin = str(root / "out"), str(root / "data-bin")
    env = dict(os.environ, IWSLT14_ARCHIVE=archive)
    args = ["--set", "bpe.merges=50", "--workers", "2", "--out-dir", out, "--data-bin", data_bin]
    result = run_script("prepare-iwslt14.sh", *args, env=env, cwd=str(root))
    return {"root": root, "archive": archive, "raw": raw, "out": out, "data_bin": data_bin, "result": result}


def read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read().splitlines()


@pytest.mark.slow
def test_full_run_split_counts_match_the_rules(prepared):
    assert prepared["result"].returncode == 0, prepared["result"].stderr
    expected = independent_counts(prepared["raw"])
    for split in SPLITS:
        de, en = (read(os.path.join(prepared["out"], f"{split}.{l}")) for l in ("de", "en"))
        assert len(de) == len(en) == expected[split], split
    stdout = prepared["result"].stdout
    assert f"train {expected['train']} / valid {expected['valid']} / test {expected['test']}" in stdout
    assert "[1/8] extract the IWSLT14 archive" in stdout and "tokenize train.de" in stdout


@pytest.mark.slow
def test_full_run_text_is_tag_free_lowercased_tokenized_and_bpe_split(prepared):
    text = "\n".join(
        line
        for split in SPLITS
        for l in ("de", "en")
        for line in read(os.path.join(prepared["out"], f"{split}.{l}"))
    )
    for leftover in ("<url>", "talkid", "<title>", "</title>", "description>", "&lt;", "<seg"):
        assert leftover not in text
    assert text == text.lower()
    assert "@@ " in text
    words = text.replace("@@ ", "")
    assert "&apos;" in words and "&quot;" in words  # tokenizer.perl's default escaping
    test_en = read(os.path.join(prepared["out"], "test.en"))
    assert test_en[0].replace("@@ ", "") == "that is bill &apos;s house ."  # U+2019 -> ' -> &apos;
    tmp_train = read(os.path.join(prepared["out"], "tmp", "train.en"))
    assert "talk 0 title" in tmp_train and "ted talk 0 description" in tmp_train


@pytest.mark.slow
def test_full_run_data_bin_is_binarized_with_a_joined_dictionary(prepared):
    data_bin = prepared["data_bin"]
    for name in (
        "dict.de.txt",
        "dict.en.txt",
        "train.de-en.de.bin",
        "train.de-en.en.idx",
        "valid.de-en.de.bin",
        "test.de-en.en.bin",
    ):
        assert os.path.isfile(os.path.join(data_bin, name)), name
    assert read(os.path.join(data_bin, "dict.de.txt")) == read(os.path.join(data_bin, "dict.en.txt"))
    assert not os.path.exists(data_bin + ".tmp")


def snapshot(out, data_bin):
    files = {}
    for directory in (out, os.path.join(out, "tmp"), data_bin):
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            if os.path.isfile(path) and not name.endswith(".log"):
                with open(path, "rb") as handle:
                    files[os.path.relpath(path, os.path.dirname(out))] = handle.read()
    return files


@pytest.mark.slow
def test_rerun_after_interruption_redoes_the_unfinished_stage_and_gives_the_same_output(prepared, tmp_path):
    out, data_bin = str(tmp_path / "out"), str(tmp_path / "data-bin")
    shutil.copytree(prepared["out"], out)
    shutil.copytree(prepared["data_bin"], data_bin)
    before = snapshot(out, data_bin)
    # as if killed while writing split outputs: marker gone, half a file left over
    os.remove(os.path.join(out, ".prepare", "split.done"))
    with open(os.path.join(out, "tmp", "valid.de.tmp"), "w") as half:
        half.write("half a line")
    os.remove(os.path.join(out, "train.en"))
    assert run_recipe("--archive", prepared["archive"], "--out-dir", out, "--data-bin", data_bin) == 0
    assert snapshot(out, data_bin) == before
    assert not os.path.exists(os.path.join(out, "tmp", "valid.de.tmp"))


@pytest.mark.slow
def test_rerun_of_a_finished_run_skips_every_stage(prepared, capsys):
    assert (
        run_recipe(
            "--archive",
            prepared["archive"],
            "--out-dir",
            prepared["out"],
            "--data-bin",
            prepared["data_bin"],
            "--workers",
            "2",
        )
        == 0
    )
    assert capsys.readouterr().out.count("already done, skipping") == 8


@pytest.mark.slow
def test_from_tokenized_starts_at_bpe(prepared, tmp_path):
    tokenized = tmp_path / "tokenized"
    tokenized.mkdir()
    for split in SPLITS:
        for l in ("de", "en"):
            shutil.copyfile(os.path.join(prepared["out"], "tmp", f"{split}.{l}"), tokenized / f"{split}.{l}")
    out, data_bin = str(tmp_path / "out"), str(tmp_path / "bin")
    assert (
        run_recipe(
            "--from-tokenized",
            str(tokenized),
            "--out-dir",
            out,
            "--data-bin",
            data_bin,
            "--bpe-code",
            os.path.join(prepared["out"], "code"),
        )
        == 0
    )
    for split in SPLITS:
        assert read(os.path.join(out, f"{split}.de")) == read(os.path.join(prepared["out"], f"{split}.de"))
    assert os.path.isfile(os.path.join(data_bin, "train.de-en.en.bin"))


# -- user errors: one line, exit status 2 --------------------------------------------


def expect_error(capsys, args, *fragments):
    assert run_recipe(*args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("prepare-iwslt14: error: "), err
    for fragment in fragments:
        assert fragment in err[0]
    return err[0]


def test_missing_archive(tmp_path, capsys):
    expect_error(
        capsys,
        ["--archive", str(tmp_path / "nope.tgz"), "--out-dir", str(tmp_path / "o")],
        "nope.tgz not found",
        "--archive PATH",
    )


def test_not_gzip_archive(tmp_path, capsys):
    bad = tmp_path / "de-en.tgz"
    bad.write_text("<html>404 Not Found</html>")
    expect_error(
        capsys,
        ["--archive", str(bad), "--out-dir", str(tmp_path / "o")],
        "not a gzip file",
        "HTML page",
        "--archive PATH",
    )


def test_truncated_archive(tmp_path, capsys):
    good = str(tmp_path / "good.tgz")
    fabricate_corpora.make_iwslt_archive(good, train_pairs=2000)
    with open(good, "rb") as handle:
        data = handle.read()
    bad = tmp_path / "de-en.tgz"
    bad.write_bytes(data[: len(data) // 2])
    out = tmp_path / "o"
    expect_error(capsys, ["--archive", str(bad), "--out-dir", str(out)], "corrupt or truncated")
    assert not os.path.exists(out / ".prepare" / "extract.done")


def test_archive_lacking_a_member(tmp_path, capsys):
    members = fabricate_corpora.iwslt_members()
    members.pop("_raw")
    members.pop("de-en/IWSLT14.TED.tst2012.de-en.en.xml")
    bad = str(tmp_path / "de-en.tgz")
    fabricate_corpora.write_tgz(bad, members)
    expect_error(
        capsys,
        ["--archive", bad, "--out-dir", str(tmp_path / "o")],
        "lacks de-en/IWSLT14.TED.tst2012.de-en.en.xml",
    )


def test_real_layout_is_what_the_fabricated_archive_holds(tmp_path):
    path = str(tmp_path / "de-en.tgz")
    fabricate_corpora.make_iwslt_archive(path)
    with tarfile.open(path) as archive:
        names = set(archive.getnames())
    assert {"de-en/train.tags.de-en.de", "de-en/IWSLT14.TEDX.dev2012.de-en.en.xml"} <= names


def test_output_dir_of_another_config_is_refused(tmp_path, capsys):
    out = tmp_path / "o"
    (out / ".prepare").mkdir(parents=True)
    config = recipe_config.load(recipe_config.default_config_path("prepare-iwslt14"))
    (out / ".prepare" / "prepare-config.json").write_text(
        __import__("json").dumps(output_dirs.fingerprint(config))
    )
    archive = str(tmp_path / "de-en.tgz")
    fabricate_corpora.make_iwslt_archive(archive)
    expect_error(
        capsys,
        ["--archive", archive, "--out-dir", str(out), "--data-bin", str(tmp_path / "b")],
        "different config",
        "bpe.merges: 10000 -> 50",
        "--force",
    )


def test_foreign_non_empty_dirs_are_refused(tmp_path, capsys):
    archive = str(tmp_path / "de-en.tgz")
    fabricate_corpora.make_iwslt_archive(archive)
    (tmp_path / "o").mkdir()
    (tmp_path / "o" / "notes.txt").write_text("mine")
    expect_error(capsys, ["--archive", archive, "--out-dir", str(tmp_path / "o")], "not made by this recipe")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "dict.de.txt").write_text("x 1\n")
    expect_error(
        capsys,
        ["--archive", archive, "--out-dir", str(tmp_path / "o2"), "--data-bin", str(tmp_path / "b")],
        "--data-bin",
        "not made by this recipe",
    )


def test_bad_override_and_bad_from_tokenized(tmp_path, capsys):
    expect_error(capsys, ["--set", "bpe.mergez=5"], "--set bpe.mergez: unknown key")
    expect_error(
        capsys, ["--from-tokenized", str(tmp_path), "--out-dir", str(tmp_path / "o")], "lacks train.de"
    )


def test_help_documents_the_override_syntax(capsys):
    with pytest.raises(SystemExit) as done:
        prepare_iwslt14.main(["--help"])
    assert done.value.code == 0
    text = capsys.readouterr().out
    assert "--set" in text and "bpe.merges=8000" in text and "--from-tokenized" in text
