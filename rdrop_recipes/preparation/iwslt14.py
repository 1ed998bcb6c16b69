"""IWSLT14 German-English: the stages of ``python -m rdrop_recipes.prepare_iwslt14``."""

import os
from typing import Dict

from rdrop_recipes.downloads import archives
from rdrop_recipes.folders.atomic_files import checked_line_count, copy_file, read_lines, write_lines
from rdrop_recipes.folders.prepared_dirs import Pipeline
from rdrop_recipes.preparation.bpe_recipe import SPLITS, BpeRecipe, Flag
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.text.cleaning import every_nth, filter_train_lines

ARCHIVE_ENV = "IWSLT14_ARCHIVE"
ARCHIVE_HELP = f"local de-en.tgz (download.archive; default ${ARCHIVE_ENV} or a download)"
ARCHIVE_FIX = (
    f"download http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz again "
    f"and pass it with --archive PATH (or ${ARCHIVE_ENV})"
)


class Iwslt14Recipe(BpeRecipe):
    prog = "prepare-iwslt14"
    flags = BpeRecipe.flags + (
        Flag("--archive", "download.archive", ARCHIVE_HELP, env=ARCHIVE_ENV, metavar="PATH"),
        Flag(
            "--from-tokenized",
            "input.from_tokenized",
            "start at BPE from DIR/{train,valid,test}.{de,en} (input.from_tokenized)",
            metavar="DIR",
        ),
    )

    @staticmethod
    def check(config: dict) -> None:
        """A named archive is checked before any output dir is claimed: a wrong path costs nothing."""
        archive = config["download"]["archive"]
        if archive and not config["input"]["from_tokenized"]:
            archives.check_gzip(archive, ARCHIVE_FIX)

    def __init__(self, config: dict, stream=None):
        super().__init__(config, stream)
        self.pair = f"{self.src}-{self.tgt}"
        self.folder = config["archive"]["folder"]
        self.prefix = config["archive"]["train_prefix"]

    def archive_members(self) -> Dict[str, str]:
        """Member name in de-en.tgz -> where it is extracted."""
        names = [f"{self.prefix}.{l}" for l in self.langs]
        names += [
            f"{name}.{self.pair}.{l}.xml" for name in self.config["split"]["test_sets"] for l in self.langs
        ]
        return {f"{self.folder}/{n}": os.path.join(self.orig, self.folder, n) for n in names}

    def extract(self) -> None:
        archive = self.config["download"]["archive"]
        if not archive:
            archive = os.path.join(self.orig, "de-en.tgz")
            if not os.path.isfile(archive):
                archives.download(self.config["download"]["url"], archive, ARCHIVE_FIX, self.out)
        self.say(f"reading {archive}")
        archives.extract_members(archive, self.archive_members(), ARCHIVE_FIX)

    def tokenize_train(self) -> None:
        flt = self.config["train_filter"]
        for l in self.langs:
            source = os.path.join(self.orig, self.folder, f"{self.prefix}.{l}")
            lines = filter_train_lines(read_lines(source), flt["drop_lines_with"], flt["strip_tags"])
            dest = self.tmp_file(f"{self.prefix}.tok.{l}")
            processor = self.processor(l, lowercase=False)  # lowercased after cleaning
            self.map_file(processor, lines, dest, f"tokenize train.{l}")

    def clean_train(self) -> None:
        """clean-corpus-n, then lowercase: the order of fairseq's script."""
        ins = [self.tmp_file(f"{self.prefix}.tok.{l}") for l in self.langs]
        outs = [self.tmp_file(f"{self.prefix}.{l}") for l in self.langs]
        kept, _ = self.clean_pairs("train", ins, outs, lowercase=self.config["tokenize"]["lowercase"])
        self.say(f"{kept:,} train pairs left after cleaning")

    def tokenize_test(self) -> None:
        for name in self.config["split"]["test_sets"]:
            counts = []
            for l in self.langs:
                xml = os.path.join(self.orig, self.folder, f"{name}.{self.pair}.{l}.xml")
                counts.append(self.tokenize_segments(xml, f"{name}.{self.pair}.{l}", self.processor(l)))
            if counts[0] != counts[1] or counts[0] == 0:
                raise PrepareError(
                    f"{name}: {counts[0]} {self.src} but {counts[1]} {self.tgt} "
                    f"segments; the archive is damaged: {ARCHIVE_FIX}"
                )
            self.say(f"{name}: {counts[0]:,} segments")

    def split(self) -> None:
        n = self.config["split"]["valid_every"]
        for l in self.langs:
            train, valid = every_nth(read_lines(self.tmp_file(f"{self.prefix}.{l}")), n)
            if not valid:  # fairseq could not load an empty valid split
                raise PrepareError(
                    f"{len(train)} cleaned train pairs give no valid pair with split.valid_every = {n}; "
                    f"lower it (--set split.valid_every=N, N <= {max(2, len(train))}) and re-run with --force"
                )
            write_lines(self.tmp_file(f"train.{l}"), train)
            write_lines(self.tmp_file(f"valid.{l}"), valid)
            test = (
                line
                for name in self.config["split"]["test_sets"]
                for line in read_lines(self.tmp_file(f"{name}.{self.pair}.{l}"))
            )
            write_lines(self.tmp_file(f"test.{l}"), test)
        self.report_counts(self.tmp)

    def import_tokenized(self) -> None:
        source = self.config["input"]["from_tokenized"]
        for split in SPLITS:
            counts = []
            for l in self.langs:
                path = os.path.join(source, f"{split}.{l}")
                if not os.path.isfile(path):
                    raise PrepareError(
                        f"--from-tokenized {source} lacks {split}.{l}; it must hold "
                        f"{{train,valid,test}}.{{{self.src},{self.tgt}}}"
                    )
                counts.append(checked_line_count(path))  # UTF-8 checked before it is copied
            if counts[0] == 0:
                raise PrepareError(
                    f"--from-tokenized {source}: {split}.{self.src} is empty; fairseq cannot load an "
                    f"empty {split} split: give it sentences"
                )
            if counts[0] != counts[1]:
                raise PrepareError(
                    f"--from-tokenized {source}: {split}.{self.src} has {counts[0]} "
                    f"lines but {split}.{self.tgt} {counts[1]}; give an aligned corpus"
                )
        for split in SPLITS:
            for l in self.langs:
                copy_file(os.path.join(source, f"{split}.{l}"), self.tmp_file(f"{split}.{l}"))
        self.report_counts(self.tmp)

    def pipeline(self, state_dir: str) -> Pipeline:
        p = Pipeline(state_dir, stream=self.out)
        both = lambda pattern: [self.tmp_file(pattern.format(l=l)) for l in self.langs]  # noqa: E731
        if self.config["input"]["from_tokenized"]:
            p.add(
                "import",
                f"copy tokenized text from {self.config['input']['from_tokenized']}",
                self.split_files(self.tmp),
                self.import_tokenized,
            )
        else:
            p.add(
                "extract", "extract the IWSLT14 archive", list(self.archive_members().values()), self.extract
            )
            p.add(
                "tokenize-train",
                "filter tags and tokenize train",
                both(self.prefix + ".tok.{l}"),
                self.tokenize_train,
            )
            p.add("clean-train", "clean and lowercase train", both(self.prefix + ".{l}"), self.clean_train)
            tests = [
                self.tmp_file(f"{name}.{self.pair}.{l}")
                for name in self.config["split"]["test_sets"]
                for l in self.langs
            ]
            p.add("tokenize-test", "extract, tokenize and lowercase dev/test XML", tests, self.tokenize_test)
            p.add("split", "split train/valid, concatenate test", self.split_files(self.tmp), self.split)
        self.add_bpe(p, self.out_dir)
        self.add_binarize(p)
        return p
