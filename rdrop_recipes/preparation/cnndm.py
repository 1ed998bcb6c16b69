"""CNN/DailyMail for BART fine-tuning: the stages of ``python -m rdrop_recipes.prepare_cnndm``."""

import gzip
import os
import shutil
import sys
import tarfile

from rdrop_recipes.fairseq_io import preprocess as binarize
from rdrop_recipes.folders import prepared_dirs
from rdrop_recipes.folders.atomic_files import (
    atomic_path,
    checked_line_count,
    count_lines,
    read_lines,
    write_lines,
)
from rdrop_recipes.folders.stages import Pipeline
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.text import gpt2_bpe
from rdrop_recipes.text.parallel_lines import default_workers

PROG = "prepare-cnndm"
SPLITS = {"train": "train", "val": "valid", "test": "test"}  # raw name -> fairseq split
SIDES = ("source", "target")


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


def one_line(text):
    # a \r inside an article would split it in fairseq's encoder (universal newlines)
    return text.replace("\r", " ")


class CnnDmRecipe:
    def __init__(self, out_dir, data_bin, raw_dir=None, archive=None, workers=0, stream=None):
        self.work = out_dir
        self.data_bin = data_bin
        self.raw_dir = raw_dir
        self.archive = archive
        self.workers = workers or default_workers()
        self.out = stream or sys.stdout
        self.bpe = None  # the GPT-2 BPE files, found (or fetched) before the first stage

    def say(self, text):
        print(f"    {text}", file=self.out, flush=True)

    def config(self) -> dict:
        """The folders' stamp: only ``binarize`` changes the data."""
        return {
            "paths": {"out_dir": self.work, "data_bin": self.data_bin},
            "download": {"raw_dir": self.raw_dir or "", "archive": self.archive or ""},
            "run": {"workers": self.workers},
            "binarize": {"source_lang": "source", "target_lang": "target", "dictionary": "GPT-2 dict.txt"},
        }

    def raw_folder(self):
        return self.raw_dir or os.path.join(self.work, "raw")

    def work_file(self, name):
        return os.path.join(self.work, name)

    def bpe_file(self, split, side):
        return self.work_file(f"{split}.bpe.{side}")

    def raw(self):
        if self.raw_dir:
            return check_raw(self.raw_dir)
        if not self.archive:
            raise PrepareError("pass --raw-dir DIR or --archive cnn_dm.tar.gz (see --help)")
        folder = self.raw_folder()
        if not all(os.path.isfile(p) for p in raw_files(folder).values()):
            self.say(f"unpacking {self.archive}")
            extract_archive(self.archive, folder)
        return check_raw(folder)

    def encode(self):
        files = raw_files(self.raw_folder())
        columns, counts = [], {}
        for side in SIDES:
            for split in SPLITS:
                # the lines written, not the raw file's newlines: a last line without its
                # newline would shift every later split by one article
                lines = (one_line(line) for line in read_lines(files[f"{split}.{side}"]))
                counts[split] = write_lines(self.work_file(f"{split}.raw.{side}"), lines)
            columns.append(
                (
                    [self.work_file(f"{split}.raw.{side}") for split in SPLITS],
                    self.work_file(f"all.raw.{side}"),
                    self.work_file(f"all.bpe.{side}"),
                    [self.bpe_file(split, side) for split in SPLITS],
                )
            )
        self.say(f"GPT-2 BPE for {sum(counts.values()):,} article/summary pairs")
        gpt2_bpe.encode_splits(self.bpe, columns, list(counts.values()), self.workers)

    def binarize(self):
        """BART's dictionary on both sides (so ``--share-all-embeddings`` holds)."""
        dictionary = self.bpe["dict.txt"]
        binarize.preprocess(
            self.work,
            self.data_bin,
            "source",
            "target",
            self.workers,
            False,
            ["--srcdict", dictionary, "--tgtdict", dictionary],
            self.config(),
            prefixes={SPLITS[split]: os.path.join(self.work, f"{split}.bpe") for split in SPLITS},
            log=os.path.join(self.work, "preprocess.log"),
        )

    def pipeline(self, state_dir) -> Pipeline:
        p = Pipeline(state_dir, stream=self.out)
        p.add("raw", "raw articles and summaries", list(raw_files(self.raw_folder()).values()), self.raw)
        p.add("encode", "GPT-2 BPE", [self.bpe_file(s, side) for s in SPLITS for side in SIDES], self.encode)
        p.add(
            "binarize",
            "binarize with BART's dictionary",
            [os.path.join(self.data_bin, f"dict.{side}.txt") for side in SIDES],
            self.binarize,
        )
        return p

    def run(self, bpe_dir, offline=False, force=False):
        final = self.data_bin
        state_dir = prepared_dirs.claim_dirs(self.work, final, self.config(), force)
        pipeline = self.pipeline(state_dir)
        if pipeline.finished():
            print(f"{PROG}: {final} is already prepared (--force rebuilds it)", file=self.out, flush=True)
            return
        self.bpe = gpt2_bpe.ensure_files(bpe_dir, offline)
        pipeline.run()
        sizes = ", ".join(f"{SPLITS[s]} {count_lines(self.bpe_file(s, 'source')):,}" for s in SPLITS)
        print(f"{PROG}: {final} ({sizes})", file=self.out, flush=True)
