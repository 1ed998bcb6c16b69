"""WikiText-103 for word-level language modeling, prepared as fairseq's
``examples/language_model/README.md`` does (the setup the R-Drop paper used).

    scripts/prepare-wikitext103.sh [--archive wikitext-103-v1.zip] [--out-dir DIR]
                                   [--data-bin DIR] [--workers N] [--set KEY=VALUE ...]
    python -m rdrop_recipes.prepare_wikitext103 ...    (the same)

From ``wikitext-103-v1.zip`` (downloaded from the URL of fairseq's
``prepare-wikitext-103.sh`` unless ``--archive PATH`` or env
``WIKITEXT103_ARCHIVE`` names a local copy), ``wikitext-103/wiki.{train,valid,
test}.tokens`` are extracted to OUT_DIR, every member CRC-checked on the way,
and binarized as they are, without BPE (the corpus is already tokenized, rare
words are ``<unk>``)::

    fairseq-preprocess --only-source --trainpref wiki.train.tokens \\
        --validpref wiki.valid.tokens --testpref wiki.test.tokens --workers N

giving ``dict.txt`` and ``{train,valid,test}.{bin,idx}`` in DATA_BIN, the
layout ``--task rdrop_language_modeling`` (and fairseq's ``language_modeling``)
reads. On the real release fairseq-preprocess reports 1,801,350 / 3,760 /
4,358 lines and 103,227,021 / 217,646 / 245,569 tokens (one end-of-line token
per line included) for train / valid / test.

Every parameter is in ``configs/prepare-wikitext103.toml``; ``--set table.key=VALUE``
overrides any of them. Stages write atomically and leave markers in
OUT_DIR/.prepare: re-running an interrupted command continues where it stopped.
Errors a user can fix (a missing, truncated or corrupt archive, an output dir
of another config) print one line and exit with status 2.
"""

import os
import sys
from typing import Dict, Optional, Sequence

from rdrop_recipes.downloads import archives
from rdrop_recipes.fairseq_io import preprocess as binarize
from rdrop_recipes.folders import prepared_dirs as output_dirs
from rdrop_recipes.folders.atomic_files import count_lines
from rdrop_recipes.folders.stages import Pipeline
from rdrop_recipes.preparation import cli as recipe_cli

PROG = "prepare-wikitext103"
RECIPE = "prepare-wikitext103"
ARCHIVE_ENV = "WIKITEXT103_ARCHIVE"
SPLITS = ("train", "valid", "test")


def archive_fix(url: str) -> str:
    return f"download {url} again and pass it with --archive PATH (or ${ARCHIVE_ENV})"


class Wikitext103Recipe:
    prog = PROG

    def __init__(self, config: dict, stream=None):
        self.config = config
        self.out = stream or sys.stdout
        self.out_dir = config["paths"]["out_dir"]
        self.data_bin = config["paths"]["data_bin"]
        self.orig = os.path.join(self.out_dir, "orig")
        self.workers = config["run"]["workers"]

    def say(self, text: str) -> None:
        print(f"    {text}", file=self.out, flush=True)

    def text_file(self, split: str) -> str:
        """Where a split's text lands: OUT_DIR/wiki.<split>.tokens (the release name)."""
        return os.path.join(self.out_dir, self.config["archive"][split])

    def archive_members(self) -> Dict[str, str]:
        """Member name in the zip -> where it is extracted."""
        folder = self.config["archive"]["folder"]
        return {f"{folder}/{self.config['archive'][split]}": self.text_file(split) for split in SPLITS}

    # -- stages ------------------------------------------------------------------
    def extract(self) -> None:
        download = self.config["download"]
        archive, fix = download["archive"], archive_fix(download["url"])
        if not archive:
            archive = os.path.join(self.orig, os.path.basename(download["url"]))
            # a finished download is never partial (it is renamed into place);
            # if it is damaged all the same, the way out is to fetch it again
            fix = f"delete {archive} to download it again, or {fix}"
            if not os.path.isfile(archive):
                archives.download(download["url"], archive, fix, self.out)
        self.say(f"reading {archive}")
        archives.extract_zip_members(archive, self.archive_members(), fix)
        for split in SPLITS:
            self.say(f"{split}: {count_lines(self.text_file(split)):,} lines")

    def binarize(self) -> None:
        binarize.preprocess(
            self.out_dir,
            self.data_bin,
            None,
            None,
            self.workers,
            False,
            self.config["binarize"]["extra_args"],
            self.config,
            prefixes={split: self.text_file(split) for split in SPLITS},
        )

    # -- driver ------------------------------------------------------------------
    def pipeline(self, state_dir: str) -> Pipeline:
        p = Pipeline(state_dir, stream=self.out)
        p.add(
            "extract",
            "extract and check the WikiText-103 archive",
            list(self.archive_members().values()),
            self.extract,
        )
        outputs = [os.path.join(self.data_bin, "dict.txt")]
        outputs += [
            os.path.join(self.data_bin, f"{split}.{ext}") for split in SPLITS for ext in ("bin", "idx")
        ]
        p.add("binarize", "fairseq-preprocess --only-source", outputs, self.binarize)
        return p

    def run(self, force: bool) -> Dict[str, int]:
        output_dirs.check_output_dir(self.out_dir, self.config, force)
        output_dirs.check_data_bin(self.data_bin, self.config, force)
        state_dir = output_dirs.claim_output_dir(self.out_dir, self.config, force)
        self.pipeline(state_dir).run()
        print(
            f"{self.prog}: finished; text in {self.out_dir}, binarized data in {self.data_bin}",
            file=self.out,
            flush=True,
        )
        return {split: count_lines(self.text_file(split)) for split in SPLITS}


def build_parser():
    parser = recipe_cli.common_parser(PROG, __doc__, RECIPE, bpe=False)
    parser.add_argument(
        "--archive",
        help=f"local wikitext-103-v1.zip (download.archive; default ${ARCHIVE_ENV} or a download)",
    )
    return parser


def configure(argv: Optional[Sequence[str]]) -> tuple:
    args = build_parser().parse_args(argv)
    if args.archive is None and os.environ.get(ARCHIVE_ENV):
        args.archive = os.environ[ARCHIVE_ENV]
    config = recipe_cli.resolve_config(args, {"archive": "download.archive"})
    archive = config["download"]["archive"]
    if archive:  # before any output dir is claimed: a wrong path costs nothing
        archives.check_zip(archive, archive_fix(config["download"]["url"]))
    return config, args.force


def main(argv: Optional[Sequence[str]] = None) -> int:
    return recipe_cli.run_main(PROG, configure, Wikitext103Recipe, argv)


if __name__ == "__main__":
    sys.exit(main())
