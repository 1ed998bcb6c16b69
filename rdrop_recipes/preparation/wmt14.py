"""WMT14 English-German: the stages of ``python -m rdrop_recipes.prepare_wmt14``."""

import os
from typing import Dict, Iterator, List, NamedTuple

from rdrop_recipes.downloads import archives
from rdrop_recipes.folders.atomic_files import copy_file, read_lines
from rdrop_recipes.folders.prepared_dirs import Pipeline
from rdrop_recipes.preparation.bpe_recipe import SPLITS, BpeRecipe, Flag
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.text.cleaning import LineProcessor

ARCHIVE_DIR_ENV = "WMT14_ARCHIVE_DIR"


class Source(NamedTuple):
    """Where one archive's members come from."""

    kind: str  # "archive" | "download" | "tree"
    path: str


class Wmt14Recipe(BpeRecipe):
    prog = "prepare-wmt14en2de"
    flags = BpeRecipe.flags + (
        Flag(
            "--archive-dir",
            "download.archive_dir",
            f"folder with the archives or their extracted trees (download.archive_dir; default ${ARCHIVE_DIR_ENV})",
            env=ARCHIVE_DIR_ENV,
            metavar="DIR",
        ),
        Flag(
            "--archive",
            "download.archive_files",
            "one archive, recognised by its file name (download.archive_files; repeatable)",
            action="append",
            metavar="PATH",
        ),
        Flag(
            "--no-download",
            "download.allow_download",
            "fail instead of downloading what is not found locally",
            action="store_false",
            default=None,
        ),
    )

    def __init__(self, config: dict, stream=None):
        super().__init__(config, stream)
        self.sources = self.locate_sources()

    def needed_members(self) -> Dict[str, List[str]]:
        needed: Dict[str, List[str]] = {}
        for key, prefix in self.config["train"]["corpora"]:
            needed.setdefault(key, []).extend(f"{prefix}.{l}" for l in self.langs)
        for split in ("valid", "test"):
            cfg = self.config[split]
            needed.setdefault(cfg["archive"], []).extend([cfg["src_sgm"], cfg["tgt_sgm"]])
        unknown = sorted(set(needed) - set(self.config["archives"]))
        if unknown:
            raise PrepareError(
                f"archive key(s) {', '.join(unknown)} used but not defined in [archives]; fix the config"
            )
        return needed

    def fix_hint(self, key: str) -> str:
        spec = self.config["archives"][key]
        return f"download {spec['url']} again and pass it with --archive PATH or put it in --archive-dir DIR"

    def locate_sources(self) -> Dict[str, Source]:
        spec, dl = self.config["archives"], self.config["download"]
        files = [s["file"] for s in spec.values()]
        by_name = {os.path.basename(path): path for path in dl["archive_files"]}
        for path in dl["archive_files"]:
            if os.path.basename(path) not in files:
                raise PrepareError(
                    f"--archive {path}: unknown file name; expected one of {', '.join(files)} (rename it)"
                )
        folder = dl["archive_dir"]
        if folder and not os.path.isdir(folder):
            raise PrepareError(f"--archive-dir {folder} is not a directory; fix the path")
        sources = {}
        for key, members in self.needed_members().items():
            file = spec[key]["file"]
            if file in by_name:
                sources[key] = Source("archive", by_name[file])
            elif folder and all(os.path.isfile(os.path.join(folder, m)) for m in members):
                sources[key] = Source("tree", folder)
            elif folder and os.path.isfile(os.path.join(folder, file)):
                sources[key] = Source("archive", os.path.join(folder, file))
            elif os.path.isfile(os.path.join(self.orig, file)):
                sources[key] = Source("archive", os.path.join(self.orig, file))
            elif dl["allow_download"]:
                sources[key] = Source("download", os.path.join(self.orig, file))
            else:
                where = (
                    f"in {folder} (as archive or extracted tree)" if folder else "(no --archive-dir given)"
                )
                raise PrepareError(
                    f"{file} not found {where} and downloads are off; "
                    f"pass --archive PATH or --archive-dir DIR, or drop --no-download"
                )
            if sources[key].kind == "archive":  # before any output dir is claimed
                archives.check_gzip(sources[key].path, self.fix_hint(key))
        return sources

    def member_path(self, key: str, member: str) -> str:
        source = self.sources[key]
        base = source.path if source.kind == "tree" else self.orig
        return os.path.join(base, member)

    def extract(self) -> None:
        for key, members in self.needed_members().items():
            source = self.sources[key]
            if source.kind == "tree":
                self.say(f"{key}: using the extracted files in {source.path}")
                continue
            if source.kind == "download" and not os.path.isfile(source.path):
                archives.download(
                    self.config["archives"][key]["url"], source.path, self.fix_hint(key), self.out
                )
            self.say(f"{key}: reading {source.path}")
            archives.extract_members(
                source.path, {m: os.path.join(self.orig, m) for m in members}, self.fix_hint(key)
            )

    def wmt_processor(self, lang: str, normalize: bool) -> LineProcessor:
        perl_parity = self.config["tokenize"]["perl_parity"]
        return self.processor(
            lang, normalize_punctuation=normalize, perl_parity=perl_parity, remove_non_printing=normalize
        )

    def tokenize_train(self) -> None:
        counts: Dict[str, List[int]] = {l: [] for l in self.langs}

        def lines(lang: str) -> Iterator[str]:
            for key, prefix in self.config["train"]["corpora"]:
                n = 0
                for n, line in enumerate(read_lines(self.member_path(key, f"{prefix}.{lang}")), 1):
                    yield line
                counts[lang].append(n)

        for l in self.langs:
            label, dest = f"normalize+tokenize train.{l}", self.tmp_file(f"train.{l}")
            self.map_file(self.wmt_processor(l, normalize=True), lines(l), dest, label)
        for (key, prefix), n_src, n_tgt in zip(self.config["train"]["corpora"], *counts.values()):
            if n_src != n_tgt or n_src == 0:
                raise PrepareError(
                    f"{prefix}: {n_src:,} {self.src} lines but {n_tgt:,} {self.tgt} lines; "
                    f"the archive is damaged: {self.fix_hint(key)}"
                )
            self.say(f"{prefix}: {n_src:,} pairs")

    def tokenize_sgm(self) -> None:
        for split in ("valid", "test"):
            cfg = self.config[split]
            counts = []
            for l, member in zip(self.langs, (cfg["src_sgm"], cfg["tgt_sgm"])):
                sgm = self.member_path(cfg["archive"], member)
                processor = self.wmt_processor(l, normalize=cfg["normalize"])
                counts.append(self.tokenize_segments(sgm, f"{split}.{l}", processor))
            if counts[0] != counts[1] or counts[0] == 0:
                raise PrepareError(
                    f"{split}: {counts[0]} {self.src} but {counts[1]} {self.tgt} segments "
                    f"in {cfg['src_sgm']} / {cfg['tgt_sgm']}; "
                    f"{self.fix_hint(cfg['archive'])}"
                )
            self.say(f"{split}: {counts[0]:,} segments")

    def clean(self) -> None:
        for split in SPLITS:
            ins = [self.tmp_file(f"bpe.{split}.{l}") for l in self.langs]
            outs = [os.path.join(self.out_dir, f"{split}.{l}") for l in self.langs]
            if not self.config[split]["clean"]:
                for src, dest in zip(ins, outs):
                    copy_file(src, dest)
                continue
            kept, read = self.clean_pairs(split, ins, outs)
            self.say(f"{split}: kept {kept:,} of {read:,} pairs")

    def pipeline(self, state_dir: str) -> Pipeline:
        p = Pipeline(state_dir, stream=self.out)
        members = [self.member_path(key, m) for key, ms in self.needed_members().items() for m in ms]
        p.add("extract", "fetch and extract the WMT14 archives", members, self.extract)
        p.add(
            "tokenize-train",
            "normalize, tokenize (-a) train",
            [self.tmp_file(f"train.{l}") for l in self.langs],
            self.tokenize_train,
        )
        p.add(
            "tokenize-sgm",
            "extract and tokenize newstest2013 (valid) and newstest2014 (test)",
            [self.tmp_file(f"{s}.{l}") for s in ("valid", "test") for l in self.langs],
            self.tokenize_sgm,
        )
        self.add_bpe(p, self.tmp, "bpe.")
        p.add("clean", "clean BPE'd train (clean-corpus-n)", self.split_files(self.out_dir), self.clean)
        self.add_binarize(p)
        return p
