"""CNN/DailyMail for BART fine-tuning, as fairseq's BART example prepares it
(``examples/bart/README.summarization.md``): raw cased articles and summaries,
one per line, GPT-2 BPE through fairseq's own encoder, and
``fairseq-preprocess --source-lang source --target-lang target`` with BART's
dictionary on both sides (one dictionary, so ``--share-all-embeddings`` holds).

    scripts/prepare-cnndm.sh [--raw-dir cnn_dm | --archive cnn_dm.tar.gz] [--bpe-dir gpt2_bpe]
        [--offline] [--out-dir cnn_dm-work] [--data-bin data-bin/cnn_dm-bin] [--workers N] [--force]

The raw files are ``{train,val,test}.{source,target}`` as the scripts
fairseq's README points to write them (abisee/cnn-dailymail, or the
artmatsak/cnn-dailymail fork that keeps the text untokenized). No direct
download of them exists; give the folder (``--raw-dir``) or a ``.tar.gz``
holding them, e.g. the widely shared ``cnn_dm.tar.gz`` (``--archive``). The
GPT-2 BPE files are downloaded unless ``--bpe-dir`` holds them. The test
split is binarized too: generation (``scripts/evaluate-cnndm.sh``) reads it.
"""

import argparse
import gzip
import os
import shutil
import subprocess
import sys
import tarfile

from rdrop_recipes.folders.atomic_files import (
    TMP_SUFFIX,
    atomic_path,
    concatenate,
    count_lines,
    read_lines,
    replace_dir,
    write_json,
    write_lines,
)
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.text import gpt2_bpe
from rdrop_recipes.text.parallel_lines import default_workers

SPLITS = {"train": "train", "val": "valid", "test": "test"}  # raw name -> fairseq split
SIDES = ("source", "target")
DONE = "prepared.json"


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
        source, target = (count_lines(files[f"{split}.{side}"]) for side in SIDES)
        if source != target:
            raise PrepareError(
                f"{folder}/{split}.source has {source} lines but {split}.target has {target}; "
                "each article needs its summary on the same line number"
            )
    return files


def one_line(text):
    # a \r inside an article would split it in fairseq's encoder (universal newlines)
    return text.replace("\r", " ")


class CnnDmPreparer:
    def __init__(self, args, out=None):
        self.args = args
        self.out = out or sys.stdout
        self.workers = args.workers or default_workers()
        self.work = args.out_dir

    def say(self, text):
        print(f"    {text}", file=self.out, flush=True)

    def raw(self):
        if self.args.raw_dir:
            return check_raw(self.args.raw_dir)
        if not self.args.archive:
            raise PrepareError("pass --raw-dir DIR or --archive cnn_dm.tar.gz (see --help)")
        folder = os.path.join(self.work, "raw")
        if not all(os.path.isfile(p) for p in raw_files(folder).values()):
            self.say(f"unpacking {self.args.archive}")
            extract_archive(self.args.archive, folder)
        return check_raw(folder)

    def encode(self, files, bpe):
        """One encoder run for everything: every split's source (and target) concatenated,
        encoded side by side, and cut back by line counts."""
        counts = {split: count_lines(files[f"{split}.source"]) for split in SPLITS}
        for side in SIDES:
            cleaned = []
            for split in SPLITS:
                path = os.path.join(self.work, f"{split}.raw.{side}")
                write_lines(path, (one_line(l) for l in read_lines(files[f"{split}.{side}"])))
                cleaned.append(path)
            concatenate(cleaned, os.path.join(self.work, f"all.raw.{side}"))
        self.say(f"GPT-2 BPE for {sum(counts.values()):,} article/summary pairs")
        gpt2_bpe.encode(
            bpe,
            [os.path.join(self.work, f"all.raw.{side}") for side in SIDES],
            [os.path.join(self.work, f"all.bpe.{side}") for side in SIDES],
            self.workers,
        )
        for side in SIDES:
            lines = read_lines(os.path.join(self.work, f"all.bpe.{side}"))
            for split, count in counts.items():
                write_lines(
                    os.path.join(self.work, f"{split}.bpe.{side}"), (next(lines) for _ in range(count))
                )
        return counts

    def binarize(self, bpe):
        final = self.args.data_bin
        tmp = final.rstrip("/") + TMP_SUFFIX
        shutil.rmtree(tmp, ignore_errors=True)
        prefix = {split: os.path.join(self.work, f"{split}.bpe") for split in SPLITS}
        command = [sys.executable, "-m", "fairseq_cli.preprocess", "--source-lang", "source"]
        command += ["--target-lang", "target", "--trainpref", prefix["train"], "--validpref", prefix["val"]]
        command += ["--testpref", prefix["test"], "--destdir", tmp, "--workers", str(self.workers)]
        command += ["--srcdict", bpe["dict.txt"], "--tgtdict", bpe["dict.txt"]]
        self.say("fairseq-preprocess " + " ".join(command[3:]))
        log = os.path.join(self.work, "preprocess.log")
        with open(log, "w") as handle:
            status = children.run(command, stdout=subprocess.DEVNULL, stderr=handle)
        if status != 0:
            raise PrepareError(f"fairseq-preprocess failed with exit status {status}; its log: {log}")
        return tmp

    def run(self):
        final = self.args.data_bin
        if os.path.isfile(os.path.join(final, DONE)) and not self.args.force:
            print(f"prepare-cnndm: {final} is already prepared (--force rebuilds it)", flush=True)
            return final
        if os.path.isdir(final) and os.listdir(final) and not self.args.force:
            raise PrepareError(f"{final} exists and was not made by this recipe; remove it or add --force")
        bpe = gpt2_bpe.ensure_files(self.args.bpe_dir, self.args.offline)
        os.makedirs(self.work, exist_ok=True)
        print("[1/3] raw articles and summaries", flush=True)
        files = self.raw()
        print("[2/3] GPT-2 BPE", flush=True)
        counts = self.encode(files, bpe)
        print("[3/3] binarize with BART's dictionary", flush=True)
        tmp = self.binarize(bpe)
        write_json(os.path.join(tmp, DONE), {"pairs": {SPLITS[s]: n for s, n in counts.items()}})
        os.makedirs(os.path.dirname(os.path.abspath(final)), exist_ok=True)
        replace_dir(tmp, final)
        sizes = ", ".join(f"{SPLITS[s]} {n:,}" for s, n in counts.items())
        print(f"prepare-cnndm: {final} ({sizes})", flush=True)
        return final


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="prepare-cnndm", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw-dir", help="folder with {train,val,test}.{source,target}")
    parser.add_argument("--archive", help="a .tar.gz holding those six files")
    gpt2_bpe.add_encode_options(parser)
    parser.add_argument("--out-dir", default="cnn_dm-work", help="intermediate text (BPE-encoded splits)")
    parser.add_argument("--data-bin", default="data-bin/cnn_dm-bin", help="fairseq-preprocess output")
    parser.add_argument("--force", action="store_true", help="rebuild a finished --data-bin")
    return parser.parse_args(argv)


@exits_cleanly("prepare-cnndm", "run the same command again")
def main(argv=None):
    CnnDmPreparer(parse_args(argv)).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
