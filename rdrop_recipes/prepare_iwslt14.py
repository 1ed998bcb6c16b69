"""IWSLT14 German-English, prepared as fairseq's ``prepare-iwslt14.sh`` does,
without perl or git.

    scripts/prepare-iwslt14.sh [--archive de-en.tgz] [--out-dir DIR] [--data-bin DIR]
                               [--workers N] [--bpe-merges N] [--set KEY=VALUE ...]
    python -m rdrop_recipes.prepare_iwslt14 ...    (the same)

From ``de-en.tgz`` of the IWSLT 2014-01 release (downloaded from fairseq's
mirror unless ``--archive PATH`` or env ``IWSLT14_ARCHIVE`` names a local
copy): train lines with ``<url>``/``<talkid>``/``<keywords>`` are dropped and
``<title>``/``<description>`` tags stripped; dev/test sentences are the
``<seg id>`` lines of the XML files. Everything is Moses-tokenized
(sacremoses, escaping on as in tokenizer.perl); train pairs are cleaned
(clean-corpus-n: 1-175 tokens, ratio 1.5); all is lowercased. Every 23rd
cleaned train pair becomes valid; test is dev2010+dev2012+tst2010-2012.
One joint BPE (10,000 merges) is learned on train.de+train.en and applied to
all splits; ``fairseq-preprocess --joined-dictionary`` binarizes the result.
The full release gives 160,239 train / 7,283 valid / 6,750 test pairs.

``--from-tokenized DIR`` starts at BPE from DIR/{train,valid,test}.{de,en}
(already tokenized and lowercased, e.g. the shared ``iwslt14_subset``);
``--bpe-code FILE`` applies an existing code instead of learning one.

Every parameter is in ``configs/prepare-iwslt14.toml``; ``--set table.key=VALUE``
(or ``table_key=VALUE``) overrides any of them, e.g. ``--set bpe.merges=8000``.
Stages write atomically and leave markers in OUT_DIR/.prepare: re-running an
interrupted command continues where it stopped. Errors a user can fix
(missing or corrupt archive, an output dir of another config) print one line
and exit with status 2.
"""

import os
import sys
from typing import Dict, Optional, Sequence

from rdrop_recipes.downloads import archives
from rdrop_recipes.folders.atomic_files import (
    atomic_open,
    copy_file,
    count_lines,
    read_lines,
    read_pairs,
    write_lines,
)
from rdrop_recipes.folders.stages import Pipeline
from rdrop_recipes.preparation import cli as recipe_cli
from rdrop_recipes.preparation.bpe_recipe import SPLITS, BpeRecipe
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.text.cleaning import (
    CleanRule,
    LineProcessor,
    every_nth,
    extract_segments,
    filter_train_lines,
)
from rdrop_recipes.text.parallel_lines import Progress, map_lines

PROG = "prepare-iwslt14"
RECIPE = "prepare-iwslt14"
ARCHIVE_ENV = "IWSLT14_ARCHIVE"
ARCHIVE_FIX = (
    f"download http://dl.fbaipublicfiles.com/fairseq/data/iwslt14/de-en.tgz again "
    f"and pass it with --archive PATH (or ${ARCHIVE_ENV})"
)


class Iwslt14Recipe(BpeRecipe):
    prog = PROG

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

    def processor(self, lang: str, lowercase: bool) -> LineProcessor:
        tok = self.config["tokenize"]
        return LineProcessor(
            lang=lang,
            escape=tok["escape"],
            aggressive_dash_splits=tok["aggressive_dash_splits"],
            lowercase=lowercase,
        )

    # -- stages ------------------------------------------------------------------
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
            progress = Progress(f"tokenize train.{l}", self.progress_every)
            write_lines(
                self.tmp_file(f"{self.prefix}.tok.{l}"),
                map_lines(self.processor(l, lowercase=False), lines, self.workers, progress),
            )
            progress.close()

    def clean_train(self) -> None:
        """clean-corpus-n, then lowercase: the order of fairseq's script."""
        rule = CleanRule(**self.config["clean"])
        pairs = read_pairs(*(self.tmp_file(f"{self.prefix}.tok.{l}") for l in self.langs))
        lower = self.config["tokenize"]["lowercase"]
        kept = 0
        outs = [self.tmp_file(f"{self.prefix}.{l}") for l in self.langs]
        with atomic_open(outs[0]) as out_src, atomic_open(outs[1]) as out_tgt:
            for src, tgt in rule.filter_pairs(pairs):
                if lower:
                    src, tgt = src.lower(), tgt.lower()
                out_src.write(src + "\n")
                out_tgt.write(tgt + "\n")
                kept += 1
        self.say(f"{kept:,} train pairs left after cleaning")

    def tokenize_test(self) -> None:
        lower = self.config["tokenize"]["lowercase"]
        fix = self.config["tokenize"]["apostrophe_fix"]
        for name in self.config["split"]["test_sets"]:
            counts = []
            for l in self.langs:
                xml = os.path.join(self.orig, self.folder, f"{name}.{self.pair}.{l}.xml")
                segments = extract_segments(read_lines(xml), apostrophe_fix=fix)
                counts.append(
                    write_lines(
                        self.tmp_file(f"{name}.{self.pair}.{l}"),
                        map_lines(self.processor(l, lowercase=lower), segments, 1),
                    )
                )
            if counts[0] != counts[1]:
                raise PrepareError(
                    f"{name}: {counts[0]} {self.src} but {counts[1]} {self.tgt} "
                    f"segments; the archive is damaged: {ARCHIVE_FIX}"
                )
            self.say(f"{name}: {counts[0]:,} segments")

    def split(self) -> None:
        n = self.config["split"]["valid_every"]
        for l in self.langs:
            train, valid = every_nth(read_lines(self.tmp_file(f"{self.prefix}.{l}")), n)
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
                counts.append(count_lines(path))
            if counts[0] != counts[1]:
                raise PrepareError(
                    f"--from-tokenized {source}: {split}.{self.src} has {counts[0]} "
                    f"lines but {split}.{self.tgt} {counts[1]}; give an aligned corpus"
                )
        for split in SPLITS:
            for l in self.langs:
                copy_file(os.path.join(source, f"{split}.{l}"), self.tmp_file(f"{split}.{l}"))
        self.report_counts(self.tmp)

    # -- assembly ------------------------------------------------------------------
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


def build_parser():
    parser = recipe_cli.common_parser(PROG, __doc__, RECIPE)
    parser.add_argument(
        "--archive", help=f"local de-en.tgz (download.archive; default ${ARCHIVE_ENV} or a download)"
    )
    parser.add_argument(
        "--from-tokenized",
        metavar="DIR",
        help="start at BPE from DIR/{train,valid,test}.{de,en} (input.from_tokenized)",
    )
    return parser


def configure(argv: Optional[Sequence[str]]) -> tuple:
    args = build_parser().parse_args(argv)
    if args.archive is None and os.environ.get(ARCHIVE_ENV):
        args.archive = os.environ[ARCHIVE_ENV]
    config = recipe_cli.resolve_config(
        args, {"archive": "download.archive", "from_tokenized": "input.from_tokenized"}
    )
    archive = config["download"]["archive"]
    if archive and not config["input"]["from_tokenized"]:
        archives.check_gzip(archive, ARCHIVE_FIX)
    return config, args.force


def main(argv: Optional[Sequence[str]] = None) -> int:
    return recipe_cli.run_main(PROG, configure, Iwslt14Recipe, argv)


if __name__ == "__main__":
    sys.exit(main())
