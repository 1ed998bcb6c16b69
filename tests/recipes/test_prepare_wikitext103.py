"""scripts/prepare-wikitext103.sh on a fabricated wikitext-103-v1.zip in the
release layout: download (from a file:// URL), extraction, fairseq-preprocess
--only-source, the binarized counts against an independent count of the text,
and one-line errors for every kind of bad archive."""

import collections
import os
import zipfile

import fabricate_corpora  # noqa: E402
import pytest

from rdrop_recipes import prepare_wikitext103  # noqa: E402

SPLITS = ("train", "valid", "test")


def run(tmp_path, *argv):
    out, data_bin = tmp_path / "out", tmp_path / "bin"
    return prepare_wikitext103.main(
        ["--out-dir", str(out), "--data-bin", str(data_bin), "--workers", "1", *argv]
    )


def one_error_line(capsys):
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1, err
    assert err[0].startswith("prepare-wikitext103: error: ")
    return err[0]


@pytest.mark.slow
def test_download_extract_and_binarize_match_an_independent_count(tmp_path, capsys):
    from fairseq.data import Dictionary, data_utils

    source = tmp_path / "mirror" / "wikitext-103-v1.zip"
    source.parent.mkdir()
    texts = fabricate_corpora.make_wikitext103_zip(str(source))
    assert run(tmp_path, "--set", f"download.url={source.as_uri()}") == 0
    out, data_bin = tmp_path / "out", tmp_path / "bin"

    # the download is kept under orig/, the splits are the members byte for byte
    assert (out / "orig" / "wikitext-103-v1.zip").read_bytes() == source.read_bytes()
    for split in SPLITS:
        assert (out / f"wiki.{split}.tokens").read_text(encoding="utf-8") == texts[split]

    # dict.txt: every train token with its count (<unk> is fairseq's own symbol;
    # madeupword fillers pad the vocabulary to a multiple of 8)
    counts = collections.Counter(texts["train"].split())
    del counts["<unk>"]
    written = {}
    for line in (data_bin / "dict.txt").read_text(encoding="utf-8").splitlines():
        word, count = line.rsplit(" ", 1)
        if not word.startswith("madeupword"):
            written[word] = int(count)
    assert written == dict(counts)

    dictionary = Dictionary.load(str(data_bin / "dict.txt"))
    for split in SPLITS:
        lines = texts[split].split("\n")[:-1]
        dataset = data_utils.load_indexed_dataset(str(data_bin / split), dictionary)
        assert len(dataset) == len(lines)
        # one end-of-line token per line, as fairseq counts (103,227,021 for the real train)
        assert int(dataset.sizes.sum()) == sum(len(line.split()) + 1 for line in lines)
    train_lines = texts["train"].split("\n")
    first_paragraph = next(
        i for i, line in enumerate(train_lines) if len(line.split()) > 3 and "=" not in line
    )
    dataset = data_utils.load_indexed_dataset(str(data_bin / "train"), dictionary)
    assert dictionary.string(dataset[first_paragraph]) == train_lines[first_paragraph].strip()

    # a re-run finds both stages done and runs nothing
    capsys.readouterr()
    stamp = os.path.getmtime(data_bin / "train.bin")
    assert run(tmp_path, "--set", f"download.url={source.as_uri()}") == 0
    assert capsys.readouterr().out.count("already done, skipping") == 2
    assert os.path.getmtime(data_bin / "train.bin") == stamp


def corrupt_member(path, texts):
    """A stored (uncompressed) zip with one byte of wiki.valid.tokens changed: its CRC fails."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for split, text in texts.items():
            archive.writestr(f"wikitext-103/wiki.{split}.tokens", text)
    data = bytearray(path.read_bytes())
    at = data.find(texts["valid"].encode("utf-8")) + len(texts["valid"]) // 2
    data[at] = ord("x") if data[at] != ord("x") else ord("y")
    path.write_bytes(bytes(data))


def test_a_corrupt_member_is_one_line_and_nothing_is_marked_done(tmp_path, capsys):
    archive = tmp_path / "wikitext-103-v1.zip"
    texts = fabricate_corpora.make_wikitext103_zip(str(tmp_path / "good.zip"))
    corrupt_member(archive, texts)
    assert run(tmp_path, "--archive", str(archive)) == 2
    assert "is corrupt or truncated" in one_error_line(capsys)
    out = tmp_path / "out"
    assert not (out / ".prepare" / "extract.done").exists()
    assert not (out / "wiki.valid.tokens").exists()
    assert not [name for name in os.listdir(out) if name.endswith(".tmp")]
    assert not (tmp_path / "bin").exists()


@pytest.mark.parametrize(
    "content,message",
    [
        (b"<html><body>404 Not Found</body></html>", "HTML page"),
        (None, "not a complete zip file"),  # the first half of a real zip: no central directory
    ],
)
def test_a_damaged_download_is_refused_before_any_output(tmp_path, capsys, content, message):
    archive = tmp_path / "wikitext-103-v1.zip"
    if content is None:
        fabricate_corpora.make_wikitext103_zip(str(archive))
        content = archive.read_bytes()[: archive.stat().st_size // 2]
    archive.write_bytes(content)
    assert run(tmp_path, "--archive", str(archive)) == 2
    assert message in one_error_line(capsys)
    assert not (tmp_path / "out").exists()


def test_another_release_is_named_as_such(tmp_path, capsys):
    archive = tmp_path / "wikitext-103-raw-v1.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for split in SPLITS:
            zf.writestr(f"wikitext-103-raw/wiki.{split}.raw", " = A = \n")
    assert run(tmp_path, "--archive", str(archive)) == 2
    line = one_error_line(capsys)
    assert "lacks wikitext-103/wiki.test.tokens" in line and "not the expected release" in line


def test_missing_archive_and_failed_download(tmp_path, capsys):
    assert run(tmp_path, "--archive", str(tmp_path / "nowhere.zip")) == 2
    assert "not found" in one_error_line(capsys)
    url = (tmp_path / "gone" / "wikitext-103-v1.zip").as_uri()
    assert run(tmp_path, "--set", f"download.url={url}") == 2
    assert "could not download" in one_error_line(capsys)
    assert not (tmp_path / "out" / "orig" / "wikitext-103-v1.zip").exists()
