"""WikiText-103 for word-level language modeling: the stages of
``python -m rdrop_recipes.prepare_wikitext103``."""

import os
from typing import Dict

from rdrop_recipes.downloads import archives
from rdrop_recipes.fairseq_io.preprocess import run_preprocess
from rdrop_recipes.folders.atomic_files import checked_line_count
from rdrop_recipes.folders.prepared_dirs import Pipeline, building_data_bin
from rdrop_recipes.preparation.bpe_recipe import SPLITS, Flag, Recipe
from rdrop_recipes.process.errors import PrepareError

ARCHIVE_ENV = "WIKITEXT103_ARCHIVE"


def archive_fix(url: str) -> str:
    return f"download {url} again and pass it with --archive PATH (or ${ARCHIVE_ENV})"


class Wikitext103Recipe(Recipe):
    prog = "prepare-wikitext103"
    flags = Recipe.flags + (
        Flag(
            "--archive",
            "download.archive",
            f"local wikitext-103-v1.zip (download.archive; default ${ARCHIVE_ENV} or a download)",
            env=ARCHIVE_ENV,
            metavar="PATH",
        ),
    )

    @staticmethod
    def check(config: dict) -> None:
        """A named archive is checked before any output dir is claimed: a wrong path costs nothing."""
        archive = config["download"]["archive"]
        if archive:
            archives.check_zip(archive, archive_fix(config["download"]["url"]))

    def text_file(self, split: str) -> str:
        """OUT_DIR/wiki.<split>.tokens (the release name)."""
        return os.path.join(self.out_dir, self.config["archive"][split])

    def archive_members(self) -> Dict[str, str]:
        """Member name in the zip -> where it is extracted."""
        folder = self.config["archive"]["folder"]
        return {f"{folder}/{self.config['archive'][split]}": self.text_file(split) for split in SPLITS}

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
            # checked here, not by fairseq-preprocess: a re-run with a good archive must redo
            # this stage, and fairseq would trip on a non-UTF-8 byte with a traceback
            lines = checked_line_count(self.text_file(split))
            if not lines:
                raise PrepareError(
                    f"{self.text_file(split)} from {archive} is empty: fairseq cannot load an empty "
                    f"{split} split; {fix}"
                )
            self.say(f"{split}: {lines:,} lines")

    def binarize(self) -> None:
        prefixes = {split: self.text_file(split) for split in SPLITS}
        with building_data_bin(self.data_bin, self.config) as tmp:
            run_preprocess(tmp, prefixes, self.workers, extra_args=self.config["binarize"]["extra_args"])

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
