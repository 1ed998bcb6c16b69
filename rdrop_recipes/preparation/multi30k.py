"""Multi30k task 1 German-English from its public release, prepared like IWSLT14: the
stages behind ``python -m rdrop_recipes.prepare_multi30k`` (its docstring describes them)."""

import gzip
import os
import zlib
from typing import List, Optional

from rdrop_recipes.downloads import archives
from rdrop_recipes.folders.atomic_files import decode_utf8, read_lines, write_lines
from rdrop_recipes.folders.stages import Pipeline
from rdrop_recipes.preparation.bpe_recipe import SPLITS, BpeRecipe
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.text.cleaning import LineProcessor
from rdrop_recipes.text.parallel_lines import Progress, map_lines

PROG = "prepare-multi30k"
RECIPE = "prepare-multi30k"
# names an unzipped copy may use for each of our splits, besides the release stem
ALIASES = {"train": ("train",), "valid": ("valid", "val"), "test": ("test", "test_2016_flickr")}


def fix_hint(config: dict) -> str:
    return (
        f"download data/task1/raw/{{train,val,test_2016_flickr}}.{{de,en}}.gz from "
        f"github.com/multi30k/dataset (base URL {config['download']['url']}) into a folder "
        "and pass it with --from-dir DIR"
    )


def find_source(folder: str, split: str, stem: str, lang: str) -> Optional[str]:
    """The file in ``folder`` holding ``split`` in ``lang``: gzipped release name first, then plain."""
    names = [f"{stem}.{lang}.gz", f"{stem}.{lang}"]
    for alias in ALIASES[split]:
        names += [f"{alias}.{lang}.gz", f"{alias}.{lang}"]
    for name in dict.fromkeys(names):
        path = os.path.join(folder, name)
        if os.path.isfile(path):
            return path
    return None


def read_text(path: str, hint: str) -> List[str]:
    """Lines of a plain or gzipped UTF-8 file; a damaged file is a PrepareError."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
        if data[:2] == archives.GZIP_MAGIC:
            data = gzip.decompress(data)
        elif path.endswith(".gz"):
            looks = " (it looks like an HTML page: a failed download?)" if data.lstrip()[:1] == b"<" else ""
            raise OSError(f"named .gz but not gzip{looks}")
    except (OSError, EOFError, zlib.error) as err:
        raise PrepareError(f"{path} is damaged ({err}); {hint}") from None
    text = decode_utf8(path, data)
    # only "\n" ends a line, as read_lines does: a stray "\r" stays inside its sentence
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return lines


class Multi30kRecipe(BpeRecipe):
    prog = PROG

    def raw_file(self, split: str, lang: str) -> str:
        return os.path.join(self.orig, f"{split}.{lang}")

    def raw_files(self) -> List[str]:
        return [self.raw_file(split, l) for split in SPLITS for l in self.langs]

    def processor(self, lang: str) -> LineProcessor:
        tok = self.config["tokenize"]
        return LineProcessor(
            lang=lang,
            escape=tok["escape"],
            aggressive_dash_splits=tok["aggressive_dash_splits"],
            lowercase=tok["lowercase"],
        )

    # -- stages ------------------------------------------------------------------
    def fetch(self) -> None:
        """orig/{train,valid,test}.{de,en} as plain text, from --from-dir or downloaded."""
        download, release = self.config["download"], self.config["release"]
        hint = fix_hint(self.config)
        folder = download["from_dir"]
        if folder and not os.path.isdir(folder):
            raise PrepareError(f"--from-dir {folder} is not a folder; {hint}")
        os.makedirs(self.orig, exist_ok=True)
        for split in SPLITS:
            lines = {}
            for l in self.langs:
                if folder:
                    path = find_source(folder, split, release[split], l)
                    if path is None:
                        names = "/".join(dict.fromkeys((release[split],) + ALIASES[split]))
                        raise PrepareError(f"--from-dir {folder} has no {names}.{l}[.gz]; {hint}")
                else:
                    path = os.path.join(self.orig, f"{release[split]}.{l}.gz")
                    if not os.path.isfile(path):
                        url = f"{download['url'].rstrip('/')}/{release[split]}.{l}.gz"
                        archives.download(url, path, hint, self.out)
                self.say(f"reading {path}")
                lines[l] = read_text(path, hint)
            counts = {l: len(v) for l, v in lines.items()}
            if counts[self.src] != counts[self.tgt]:
                raise PrepareError(
                    f"{split}: {counts[self.src]} {self.src} but {counts[self.tgt]} {self.tgt} lines, "
                    f"so the files are not one release; {hint}"
                )
            if counts[self.src] == 0:
                raise PrepareError(
                    f"{path} and its .{self.src} side hold no sentences: fairseq cannot load "
                    f"an empty {split} split; {hint}"
                )
            if split == "train" and self.config["subset"]["train_pairs"] > 0:
                n = self.config["subset"]["train_pairs"]
                lines = {l: v[:n] for l, v in lines.items()}
            for l in self.langs:
                write_lines(self.raw_file(split, l), lines[l])
        self.report_counts(self.orig)

    def tokenize(self) -> None:
        for split in SPLITS:
            for l in self.langs:
                progress = Progress(f"tokenize {split}.{l}", self.progress_every)
                write_lines(
                    self.tmp_file(f"{split}.{l}"),
                    map_lines(self.processor(l), read_lines(self.raw_file(split, l)), self.workers, progress),
                )
                progress.close()

    # -- assembly ------------------------------------------------------------------
    def pipeline(self, state_dir: str) -> Pipeline:
        p = Pipeline(state_dir, stream=self.out)
        p.add("fetch", "fetch the Multi30k task 1 release", self.raw_files(), self.fetch)
        p.add("tokenize", "tokenize and lowercase all splits", self.split_files(self.tmp), self.tokenize)
        self.add_bpe(p, self.out_dir)
        self.add_binarize(p)
        return p
