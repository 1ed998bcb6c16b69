"""CNN/DailyMail for BART fine-tuning: the stages of ``python -m rdrop_recipes.prepare_cnndm``."""

import gzip
import os
import shutil
import tarfile

from rdrop_recipes.fairseq_io.preprocess import run_preprocess
from rdrop_recipes.folders import prepared_dirs
from rdrop_recipes.folders.atomic_files import (
    atomic_path,
    checked_line_count,
    count_lines,
    read_lines,
    write_lines,
)
from rdrop_recipes.folders.prepared_dirs import Pipeline
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.text import gpt2_bpe
from rdrop_recipes.text.parallel_lines import default_workers

PROG = "prepare-cnndm"
SPLITS = {"train": "train", "val": "valid", "test": "test"}  # raw name -> fairseq split
SIDES = ("source", "target")
# the folders' stamp (prepared_dirs): only how they are binarized changes the data
STAMP = {"binarize": {"source_lang": "source", "target_lang": "target", "dictionary": "GPT-2 dict.txt"}}


def raw_files(folder):
    return {f"{split}.{side}": os.path.join(folder, f"{split}.{side}") for split in SPLITS for side in SIDES}


def extract_archive(archive, dest):
    """The six files from a .tar.gz, wherever they sit inside it (``cnn_dm/train.source`` ...)."""
    fix = "pass --raw-dir with the six {train,val,test}.{source,target} files instead"
    if not os.path.isfile(archive):
        raise PrepareError(f"archive {archive} not found; {fix}")
    wanted = set(raw_files(dest))
    found = set()
    try:
        with tarfile.open(archive, "r:*") as tar:
            for info in tar:
                name = os.path.basename(info.name)
                if info.isfile() and name in wanted and name not in found:
                    with atomic_path(os.path.join(dest, name)) as tmp, open(tmp, "wb") as out:
                        shutil.copyfileobj(tar.extractfile(info), out, 1 << 20)
                    found.add(name)
    except (tarfile.TarError, EOFError, OSError, gzip.BadGzipFile) as err:
        raise PrepareError(f"archive {archive} is corrupt or not a tar archive ({err}); {fix}") from None
    missing = sorted(wanted - found)
    if missing:
        raise PrepareError(f"archive {archive} lacks {', '.join(missing)}; {fix}")


def check_raw(folder):
    files = raw_files(folder)
    missing = [name for name, path in files.items() if not os.path.isfile(path)]
    if missing:
        raise PrepareError(
            f"{folder} lacks {', '.join(missing)}; make them with the scripts fairseq's BART README points to "
            "(one untokenized article or summary per line) or pass --archive cnn_dm.tar.gz"
        )
    for split in SPLITS:
        # a line count that also checks the text is UTF-8 (the encoder would fail on it later)
        source, target = (checked_line_count(files[f"{split}.{side}"]) for side in SIDES)
        if source != target:
            raise PrepareError(
                f"{folder}/{split}.source has {source} lines but {split}.target has {target}; "
                "each article needs its summary on the same line number"
            )
        if source == 0:
            raise PrepareError(
                f"{folder}/{split}.source and {split}.target are empty: fairseq cannot load an empty "
                f"{SPLITS[split]} split; put the {split} articles and summaries there and re-run"
            )
    return files


def raw(raw_dir, archive, folder):
    """Check the six raw files in ``folder``: ``raw_dir``, or where ``archive`` is unpacked first."""
    if not raw_dir and not archive:
        raise PrepareError("pass --raw-dir DIR or --archive cnn_dm.tar.gz (see --help)")
    if not raw_dir and not all(os.path.isfile(p) for p in raw_files(folder).values()):
        print(f"    unpacking {archive}", flush=True)
        extract_archive(archive, folder)
    check_raw(folder)


def encode(folder, work, bpe, workers):
    files = raw_files(folder)
    counts = {}
    for side in SIDES:
        for split in SPLITS:
            # a \r inside an article would split it in fairseq's encoder (universal newlines)
            lines = (line.replace("\r", " ") for line in read_lines(files[f"{split}.{side}"]))
            # the lines written, not the raw file's newlines: a last line without its
            # newline would shift every later split by one article
            counts[split] = write_lines(os.path.join(work, f"{split}.raw.{side}"), lines)
    print(f"    GPT-2 BPE for {sum(counts.values()):,} article/summary pairs", flush=True)
    gpt2_bpe.encode_splits(bpe, work, list(SPLITS), SIDES, list(counts.values()), workers, tag="bpe.")


def binarize(work, data_bin, bpe, workers):
    """BART's dictionary on both sides (so ``--share-all-embeddings`` holds)."""
    dictionary = bpe["dict.txt"]
    prefixes = {SPLITS[split]: os.path.join(work, f"{split}.bpe") for split in SPLITS}
    with prepared_dirs.building_data_bin(data_bin, STAMP) as tmp:
        run_preprocess(
            tmp,
            prefixes,
            workers,
            "source",
            "target",
            extra_args=["--srcdict", dictionary, "--tgtdict", dictionary],
            log=os.path.join(work, "preprocess.log"),
        )


def prepare(raw_dir, archive, bpe_dir, offline, workers, out_dir, data_bin, force):
    """prepare-cnndm's arguments: the raw articles and summaries through the stages into ``data_bin``."""
    workers = workers or default_workers()
    folder = raw_dir or os.path.join(out_dir, "raw")
    pipeline = Pipeline(prepared_dirs.claim_dirs(out_dir, data_bin, STAMP, force))
    pipeline.add(
        "raw", "raw articles and summaries", raw_files(folder).values(), lambda: raw(raw_dir, archive, folder)
    )
    # these stages read ``bpe`` when they run: the GPT-2 BPE files, found (or fetched) only then
    encoded = [os.path.join(out_dir, f"{split}.bpe.{side}") for split in SPLITS for side in SIDES]
    pipeline.add("encode", "GPT-2 BPE", encoded, lambda: encode(folder, out_dir, bpe, workers))
    dictionaries = [os.path.join(data_bin, f"dict.{side}.txt") for side in SIDES]
    pipeline.add(
        "binarize",
        "binarize with BART's dictionary",
        dictionaries,
        lambda: binarize(out_dir, data_bin, bpe, workers),
    )
    if pipeline.finished():
        print(f"{PROG}: {data_bin} is already prepared (--force rebuilds it)", flush=True)
        return
    bpe = gpt2_bpe.ensure_files(bpe_dir, offline)
    pipeline.run()
    sizes = (
        f"{SPLITS[split]} {count_lines(os.path.join(out_dir, f'{split}.bpe.source')):,}" for split in SPLITS
    )
    print(f"{PROG}: {data_bin} ({', '.join(sizes)})", flush=True)
