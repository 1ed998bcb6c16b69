"""scripts/prepare-multi30k.sh on files fabricated in the release's layout
(data/task1/raw/{train,val,test_2016_flickr}.{de,en}.gz): offline from a
folder, "downloaded" through a file:// URL, and from an unzipped copy."""

import gzip
import os
import subprocess

import pytest

from rdrop_recipes.config.recipe_config import REPO_ROOT as REPO
from rdrop_recipes.preparation.multi30k import Multi30kRecipe
from rdrop_recipes.process.errors import PrepareError

ENV = dict(os.environ, OMP_NUM_THREADS="1")
DE = ["Ein Hund läuft über die Wiese.", "Zwei Männer spielen Fußball im Park.", "Eine Frau liest ein Buch."]
EN = ["A dog runs across the meadow.", "Two men play soccer in the park.", "A woman reads a book."]
SIZES = {"train": 40, "val": 7, "test_2016_flickr": 5}


def release_lines(stem, lang):
    words = DE if lang == "de" else EN
    # a stray \r inside a caption must stay inside it, as in the real files
    return [f"{words[i % 3]} Nummer{i}" + ("\rX" if i == 3 else "") for i in range(SIZES[stem])]


def fabricate(folder, gz=True, names=None):
    os.makedirs(folder, exist_ok=True)
    names = names or {stem: stem for stem in SIZES}
    for stem, name in names.items():
        for lang in ("de", "en"):
            data = "".join(line + "\n" for line in release_lines(stem, lang)).encode("utf-8")
            path = os.path.join(folder, f"{name}.{lang}" + (".gz" if gz else ""))
            with open(path, "wb") as f:
                f.write(gzip.compress(data) if gz else data)
    return str(folder)


def newlines(path):
    """Line count computed apart from the recipe: the raw bytes' newlines."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:2] == b"\x1f\x8b":
        data = gzip.decompress(data)
    return data.count(b"\n")


def prepare(*args):
    return subprocess.run(
        ["bash", os.path.join(REPO, "scripts", "prepare-multi30k.sh"), "--workers", "1", *args],
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO,
    )


def config_for(tmp_path, **values):
    config, _ = Multi30kRecipe.configure(
        ["--out-dir", str(tmp_path / "out"), "--data-bin", str(tmp_path / "bin"), "--workers", "1"],
    )
    for key, value in values.items():
        table, name = key.split("__")
        config[table][name] = value
    return config


@pytest.mark.slow
def test_release_folder_through_bpe_and_binarize(tmp_path):
    raw = fabricate(tmp_path / "raw")
    out, binarized = tmp_path / "out", tmp_path / "bin"
    proc = prepare(
        "--from-dir", raw, "--out-dir", str(out), "--data-bin", str(binarized), "--bpe-merges", "40"
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    expected = {
        split: newlines(os.path.join(raw, f"{stem}.de.gz"))
        for split, stem in (("train", "train"), ("valid", "val"), ("test", "test_2016_flickr"))
    }
    assert expected == {"train": 40, "valid": 7, "test": 5}
    for split, count in expected.items():
        for lang in ("de", "en"):
            assert newlines(out / f"{split}.{lang}") == count
            # fairseq-preprocess read the same number of sentences
            assert f"{split}.{lang}: {count} sents" in proc.stdout + proc.stderr
            assert (binarized / f"{split}.de-en.{lang}.bin").is_file()
    text = (out / "train.en").read_text(encoding="utf-8")
    assert text == text.lower() and "@@" in text  # lowercased, then BPE
    assert (out / "train.en").read_text(encoding="utf-8").splitlines()[0].startswith("a dog")
    assert "a woman reads a book ." in (out / "valid.en").read_text(encoding="utf-8").replace("@@ ", "")
    assert (binarized / "dict.de.txt").read_text() == (binarized / "dict.en.txt").read_text()  # joined
    assert "train 40 / valid 7 / test 5 sentence pairs" in proc.stdout

    again = prepare(
        "--from-dir", raw, "--out-dir", str(out), "--data-bin", str(binarized), "--bpe-merges", "40"
    )
    assert again.returncode == 0 and again.stdout.count("already done, skipping") == 5


def test_download_through_the_url(tmp_path):
    release = fabricate(tmp_path / "release")
    config = config_for(tmp_path, download__url="file://" + release)
    recipe = Multi30kRecipe(config, stream=open(os.devnull, "w"))
    recipe.fetch()
    for split, stem in (("train", "train"), ("valid", "val"), ("test", "test_2016_flickr")):
        for lang in ("de", "en"):
            assert newlines(recipe.raw_file(split, lang)) == newlines(
                os.path.join(release, f"{stem}.{lang}.gz")
            )
    # the \r stays inside its caption: a split on it would misalign the corpus
    assert open(recipe.raw_file("train", "de"), encoding="utf-8", newline="").read().count("\rX") == 1


def test_unzipped_folder_with_short_names_and_a_train_subset(tmp_path):
    raw = fabricate(
        tmp_path / "raw", gz=False, names={"train": "train", "val": "valid", "test_2016_flickr": "test"}
    )
    config = config_for(tmp_path, download__from_dir=raw, subset__train_pairs=12)
    recipe = Multi30kRecipe(config, stream=open(os.devnull, "w"))
    recipe.fetch()
    assert newlines(recipe.raw_file("train", "en")) == 12
    assert newlines(recipe.raw_file("valid", "de")) == newlines(os.path.join(raw, "valid.de")) == 7
    assert newlines(recipe.raw_file("test", "en")) == newlines(os.path.join(raw, "test.en")) == 5
    with open(recipe.raw_file("train", "en"), encoding="utf-8") as f:
        assert f.readline() == "A dog runs across the meadow. Nummer0\n"  # first pairs, in order


def test_bad_inputs_are_one_line_errors(tmp_path):
    raw = fabricate(tmp_path / "raw")
    os.remove(os.path.join(raw, "val.en.gz"))
    proc = prepare("--from-dir", raw, "--out-dir", str(tmp_path / "o1"), "--data-bin", str(tmp_path / "b1"))
    assert proc.returncode == 2
    assert "prepare-multi30k: error: --from-dir" in proc.stderr and "val/valid.en" in proc.stderr
    assert "Traceback" not in proc.stderr

    bad = fabricate(tmp_path / "bad")
    with open(os.path.join(bad, "test_2016_flickr.de.gz"), "wb") as f:
        f.write(b"<html>404</html>")
    config = config_for(tmp_path, download__from_dir=bad)
    with pytest.raises(PrepareError, match="HTML page"):
        Multi30kRecipe(config, stream=open(os.devnull, "w")).fetch()

    short = fabricate(tmp_path / "short")
    with open(os.path.join(short, "train.en.gz"), "wb") as f:
        f.write(gzip.compress(b"only one line\n"))
    config = config_for(tmp_path, download__from_dir=short)
    with pytest.raises(PrepareError, match="train: 40 de but 1 en lines"):
        Multi30kRecipe(config, stream=open(os.devnull, "w")).fetch()
