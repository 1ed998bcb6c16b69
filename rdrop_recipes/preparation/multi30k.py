"""Multi30k task 1 German-English: the stages of ``python -m rdrop_recipes.prepare_multi30k``."""

import gzip
import os
import zlib
from typing import List

from rdrop_recipes.downloads import archives
from rdrop_recipes.folders.atomic_files import decode_utf8, read_lines, write_lines
from rdrop_recipes.folders.prepared_dirs import Pipeline
from rdrop_recipes.preparation.bpe_recipe import SPLITS, BpeRecipe, Flag
from rdrop_recipes.process.errors import PrepareError

# names an unzipped copy may use for each of our splits, besides the release stem
ALIASES = {"train": ("train",), "valid": ("valid", "val"), "test": ("test", "test_2016_flickr")}


def find_source(folder: str, split: str, stem: str, lang: str, hint: str) -> str:
    """``split`` in ``lang`` in ``folder``: the release name first, then the aliases; gzipped, then plain."""
    names = dict.fromkeys((stem,) + ALIASES[split])
    paths = [os.path.join(folder, f"{name}.{lang}{ext}") for name in names for ext in (".gz", "")]
    path = next(filter(os.path.isfile, paths), None)
    if path is None:
        raise PrepareError(f"--from-dir {folder} has no {'/'.join(names)}.{lang}[.gz]; {hint}")
    return path


def read_text(path: str, hint: str) -> List[str]:
    """Lines of a plain or gzipped UTF-8 file; a damaged file is a PrepareError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if data[:2] == archives.GZIP_MAGIC:
            data = gzip.decompress(data)
        elif path.endswith(".gz"):
            raise OSError(f"named .gz but not gzip{archives.html_hint(data)}")
    except (OSError, EOFError, zlib.error) as err:
        raise PrepareError(f"{path} is damaged ({err}); {hint}") from None
    text = decode_utf8(path, data)
    # only "\n" ends a line, as read_lines does: a stray "\r" stays inside its sentence
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


class Multi30kRecipe(BpeRecipe):
    prog = "prepare-multi30k"
    flags = BpeRecipe.flags + (
        Flag(
            "--from-dir",
            "download.from_dir",
            "read the release from DIR (.gz or unzipped) instead of downloading (download.from_dir)",
            metavar="DIR",
        ),
        Flag(
            "--train-pairs",
            "subset.train_pairs",
            "keep the first N train pairs (subset.train_pairs)",
            type=int,
            metavar="N",
        ),
    )

    @staticmethod
    def check(config: dict) -> None:
        if config["subset"]["train_pairs"] < 0:
            raise PrepareError("--train-pairs must be 0 (all) or a positive number of pairs")

    def raw_file(self, split: str, lang: str) -> str:
        return os.path.join(self.orig, f"{split}.{lang}")

    def fetch(self) -> None:
        """orig/{train,valid,test}.{de,en}, from --from-dir or downloaded."""
        download, release = self.config["download"], self.config["release"]
        hint = (
            f"download data/task1/raw/{{train,val,test_2016_flickr}}.{{de,en}}.gz from "
            f"github.com/multi30k/dataset (base URL {download['url']}) into a folder "
            "and pass it with --from-dir DIR"
        )
        folder = download["from_dir"]
        if folder and not os.path.isdir(folder):
            raise PrepareError(f"--from-dir {folder} is not a folder; {hint}")
        for split in SPLITS:
            lines = {}
            for l in self.langs:
                if folder:
                    path = find_source(folder, split, release[split], l, hint)
                else:
                    path = os.path.join(self.orig, f"{release[split]}.{l}.gz")
                    if not os.path.isfile(path):
                        url = f"{download['url'].rstrip('/')}/{release[split]}.{l}.gz"
                        archives.download(url, path, hint, self.out)
                self.say(f"reading {path}")
                lines[l] = read_text(path, hint)
            n_src, n_tgt = len(lines[self.src]), len(lines[self.tgt])
            if n_src != n_tgt:
                raise PrepareError(
                    f"{split}: {n_src} {self.src} but {n_tgt} {self.tgt} lines, "
                    f"so the files are not one release; {hint}"
                )
            if n_src == 0:
                raise PrepareError(
                    f"{path} and its .{self.src} side hold no sentences: fairseq cannot load "
                    f"an empty {split} split; {hint}"
                )
            keep = self.config["subset"]["train_pairs"] if split == "train" else 0  # 0: all
            for l in self.langs:
                write_lines(self.raw_file(split, l), lines[l][: keep or None])
        self.report_counts(self.orig)

    def tokenize(self) -> None:
        for split in SPLITS:
            for l in self.langs:
                lines = read_lines(self.raw_file(split, l))
                self.map_file(
                    self.processor(l), lines, self.tmp_file(f"{split}.{l}"), f"tokenize {split}.{l}"
                )

    def pipeline(self, state_dir: str) -> Pipeline:
        p = Pipeline(state_dir, stream=self.out)
        p.add("fetch", "fetch the Multi30k task 1 release", self.split_files(self.orig), self.fetch)
        p.add("tokenize", "tokenize and lowercase all splits", self.split_files(self.tmp), self.tokenize)
        self.add_bpe(p, self.out_dir)
        self.add_binarize(p)
        return p
