"""The config-driven recipes' driver (``Recipe``: command line, output-dir claim, stage pipeline,
final line) and what every translation recipe shares after its corpus front end (``BpeRecipe``:
joint BPE, clean-corpus-n, fairseq-preprocess). Dedicated flags (``Recipe.flags``) are shorthands
for ``--set`` of one config key, applied after the ``--set`` list: a flag wins."""

import argparse
import os
import sys
import time
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

from rdrop_recipes.config import recipe_config
from rdrop_recipes.fairseq_io.preprocess import run_preprocess
from rdrop_recipes.folders import prepared_dirs as output_dirs
from rdrop_recipes.folders.atomic_files import (
    atomic_open,
    concatenate,
    copy_file,
    count_lines,
    read_lines,
    read_pairs,
    write_lines,
)
from rdrop_recipes.folders.prepared_dirs import Pipeline
from rdrop_recipes.process.errors import PrepareError, RecipeError
from rdrop_recipes.process.exit import exits_cleanly
from rdrop_recipes.text.cleaning import BpeApplier, CleanRule, LineProcessor, extract_segments
from rdrop_recipes.text.parallel_lines import default_workers, map_lines

SPLITS = ("train", "valid", "test")


# the smallest value that can work, checked before any stage starts (a zero merge count
# would fail only after tokenizing; valid_every = 1 leaves no training data)
LOWER_BOUNDS: Dict[str, float] = {
    "bpe.merges": 1,
    "bpe.min_frequency": 1,
    "run.workers": 0,
    "run.progress_every": 1,
    "split.valid_every": 2,
    "clean.ratio": 1.0,
    "clean.min_tokens": 0,
    "clean.max_tokens": 1,
    "clean.max_word_length": 1,
}


def check_bounds(config: dict) -> None:
    for key, minimum in LOWER_BOUNDS.items():
        table, _, leaf = key.partition(".")
        value = config.get(table, {}).get(leaf)
        if value is not None and not value >= minimum:
            raise RecipeError(
                f"{key} = {value} cannot work: it must be >= {minimum}; fix it with --set {key}=N"
            )
    clean = config.get("clean", {})
    if clean.get("min_tokens", 0) > clean.get("max_tokens", float("inf")):
        # every pair would be cleaned away, after hours of tokenizing
        raise RecipeError(
            f"clean.min_tokens = {clean['min_tokens']} is above clean.max_tokens = {clean['max_tokens']}: "
            "no sentence pair could be kept; fix one with --set clean.min_tokens=N or clean.max_tokens=N"
        )


class Flag:
    """A dedicated flag: ``--set key=VALUE`` by another name. ``options`` go to ``add_argument``;
    ``env`` names the environment variable giving its default."""

    def __init__(self, name: str, key: str, help: str, env: Optional[str] = None, **options):
        self.name = name
        self.key = key
        self.env = env
        self.options = dict(options, help=help)

    def add_to(self, parser: argparse.ArgumentParser) -> None:
        default = {"default": os.environ.get(self.env) or None} if self.env else {}
        parser.add_argument(self.name, dest=self.key, **default, **self.options)


class Recipe:
    prog = "prepare"
    flags = (
        Flag("--out-dir", "paths.out_dir", "text output and intermediates (paths.out_dir)", metavar="DIR"),
        Flag("--data-bin", "paths.data_bin", "fairseq-preprocess output dir (paths.data_bin)", metavar="DIR"),
        Flag(
            "--workers",
            "run.workers",
            f"worker processes (run.workers; 0 = all {default_workers()} cores)",
            type=int,
            metavar="N",
        ),
    )
    set_example = "run.workers=8"

    @staticmethod
    def check(config: dict) -> None:
        """What the recipe refuses before any output dir is claimed."""

    @classmethod
    def parser(cls, description: Optional[str] = None) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(
            prog=cls.prog, description=description, formatter_class=argparse.RawDescriptionHelpFormatter
        )
        parser.add_argument(
            "--config",
            default=recipe_config.default_config_path(cls.prog),
            help="TOML with every parameter (default: %(default)s)",
        )
        recipe_config.add_set_option(parser, cls.set_example)
        for flag in cls.flags:
            flag.add_to(parser)
        parser.add_argument(
            "--force",
            action="store_true",
            help="redo every stage even if the output dir holds another config's data",
        )
        return parser

    @classmethod
    def configure(cls, argv: Optional[Sequence[str]], description: Optional[str] = None) -> Tuple[dict, bool]:
        """(config, force) of the command line ``argv``."""
        args = cls.parser(description).parse_args(argv)
        config = recipe_config.apply_overrides(recipe_config.load(args.config), args.assignments)
        for flag in cls.flags:
            value = getattr(args, flag.key)
            if value is not None:
                recipe_config.set_value(config, flag.key, value)
        check_bounds(config)
        code = config.get("bpe", {}).get("code")
        if code and not os.path.isfile(code):  # read only at the BPE stage, after hours of tokenizing
            raise RecipeError(f"BPE code {code} not found; fix --bpe-code / bpe.code")
        if config["run"]["workers"] == 0:
            config["run"]["workers"] = default_workers()
        cls.check(config)
        return config, args.force

    @classmethod
    def main(cls, description: str, argv: Optional[Sequence[str]] = None) -> int:
        """The entry point (``description``: its --help); returns the exit status."""

        @exits_cleanly(cls.prog, "run the same command again to continue (finished stages are kept)")
        def main(argv):
            config, force = cls.configure(argv, description)
            cls(config).run(force)

        return main(argv)

    def __init__(self, config: dict, stream=None):
        self.config = config
        self.out = stream or sys.stdout
        self.out_dir = config["paths"]["out_dir"]
        self.data_bin = config["paths"]["data_bin"]
        self.orig = os.path.join(self.out_dir, "orig")
        self.workers = config["run"]["workers"]

    def say(self, text: str) -> None:
        print(f"    {text}", file=self.out, flush=True)

    def run(self, force: bool) -> None:
        state_dir = output_dirs.claim_dirs(self.out_dir, self.data_bin, self.config, force)
        self.pipeline(state_dir).run()
        print(
            f"{self.prog}: finished; text in {self.out_dir}, binarized data in {self.data_bin}",
            file=self.out,
            flush=True,
        )


class BpeRecipe(Recipe):
    flags = Recipe.flags + (
        Flag("--bpe-merges", "bpe.merges", "number of joint BPE merges (bpe.merges)", type=int, metavar="N"),
        Flag(
            "--bpe-code", "bpe.code", "apply this BPE code instead of learning one (bpe.code)", metavar="FILE"
        ),
    )
    set_example = "bpe.merges=8000"

    def __init__(self, config: dict, stream=None):
        super().__init__(config, stream)
        self.src, self.tgt = config["languages"]["src"], config["languages"]["tgt"]
        self.langs = (self.src, self.tgt)
        self.tmp = os.path.join(self.out_dir, "tmp")
        self.progress_every = config["run"]["progress_every"]
        self.code = os.path.join(self.out_dir, "code")

    def tmp_file(self, name: str) -> str:
        return os.path.join(self.tmp, name)

    def split_files(self, directory: str, prefix: str = "") -> List[str]:
        return [os.path.join(directory, f"{prefix}{split}.{l}") for split in SPLITS for l in self.langs]

    def report_counts(self, directory: str) -> None:
        counts = {split: count_lines(os.path.join(directory, f"{split}.{self.src}")) for split in SPLITS}
        self.say(" / ".join(f"{split} {n:,}" for split, n in counts.items()) + " sentence pairs")

    def processor(self, lang: str, **options) -> LineProcessor:
        """The [tokenize] table's Moses chain for ``lang``; ``options`` add to or override it."""
        tok = self.config["tokenize"]
        table = {key: tok[key] for key in ("escape", "aggressive_dash_splits", "lowercase")}
        return LineProcessor(lang=lang, **{**table, **options})

    def tokenize_segments(self, xml: str, name: str, processor: LineProcessor) -> int:
        """The ``<seg>`` lines of ``xml`` through ``processor`` into tmp/<name>; their count."""
        fix = self.config["tokenize"]["apostrophe_fix"]
        segments = extract_segments(read_lines(xml), apostrophe_fix=fix)
        return write_lines(self.tmp_file(name), map(processor.build(), segments))

    def map_file(self, factory, lines: Iterable[str], dest: str, label: str) -> None:
        """``map_lines`` on the workers into ``dest``, with a line count labelled ``label`` every
        ``run.progress_every`` lines: no tqdm redraws in unattended logs."""
        start = time.monotonic()

        def counted(results: Iterable[str]) -> Iterable[str]:
            for count, line in enumerate(results, start=1):
                if count % self.progress_every == 0:
                    self.say(f"{label}: {count:,} lines")
                yield line

        count = write_lines(dest, counted(map_lines(factory, lines, self.workers)))
        self.say(f"{label}: {count:,} lines done in {time.monotonic() - start:.1f}s")

    def run(self, force: bool) -> None:
        super().run(force)
        self.report_counts(self.out_dir)

    # -- shared stages ---------------------------------------------------------
    def learn_bpe(self) -> None:
        """subword-nmt's ``learn_bpe.py -s N`` on tmp/train.<src> + tmp/train.<tgt>, concatenated in
        the shell recipes' ``cat`` order (ties break the same way) into a file: subword-nmt's
        parallel word count needs a seekable one."""
        from subword_nmt.learn_bpe import learn_bpe

        bpe = self.config["bpe"]
        if bpe["code"]:
            if not os.path.isfile(bpe["code"]):
                raise PrepareError(f"BPE code {bpe['code']} not found; fix --bpe-code / bpe.code")
            self.say(f"using the existing code {bpe['code']}")
            copy_file(bpe["code"], self.code)
            return
        self.say(f"learning {bpe['merges']:,} merges on train.{self.src} + train.{self.tgt}")
        joined = self.tmp_file("train.joined")
        concatenate([self.tmp_file(f"train.{l}") for l in self.langs], joined)
        with open(joined, encoding="utf-8") as infile, atomic_open(self.code) as outfile:
            learn_bpe(
                infile,
                outfile,
                bpe["merges"],
                min_frequency=bpe["min_frequency"],
                num_workers=max(1, self.workers),
            )

    def apply_bpe(self, dest_dir: str, prefix: str = "") -> None:
        for l in self.langs:
            for split in SPLITS:
                dest = os.path.join(dest_dir, f"{prefix}{split}.{l}")
                lines = read_lines(self.tmp_file(f"{split}.{l}"))
                self.map_file(BpeApplier(self.code), lines, dest, f"bpe {os.path.basename(dest)}")

    def binarize(self) -> None:
        cfg = self.config["binarize"]
        prefixes = {split: os.path.join(self.out_dir, split) for split in SPLITS}
        with output_dirs.building_data_bin(self.data_bin, self.config) as tmp:
            run_preprocess(
                tmp, prefixes, self.workers, self.src, self.tgt, cfg["joined_dictionary"], cfg["extra_args"]
            )

    def clean_pairs(
        self, split: str, ins: Sequence[str], outs: Sequence[str], lowercase: bool = False
    ) -> Tuple[int, int]:
        """clean-corpus-n ([clean]) of the aligned ``ins`` into ``outs``: (pairs kept, read).
        An emptied split is refused here, before fairseq binarizes a split no run can load."""
        rule = CleanRule(**self.config["clean"])
        kept = 0
        with atomic_open(outs[0]) as out_src, atomic_open(outs[1]) as out_tgt:
            for number, (src, tgt) in enumerate(rule.filter_pairs(read_pairs(*ins)), start=1):
                if lowercase:
                    src, tgt = src.lower(), tgt.lower()
                out_src.write(src + "\n")
                out_tgt.write(tgt + "\n")
                kept = number
            read = count_lines(ins[0])  # read_pairs read every line of both, aligned
            # raised inside the with: neither output is left behind
            if not read:
                raise PrepareError(
                    f"{ins[0]} holds no {split} sentence pairs; check the corpus it comes from"
                )
            if not kept:
                settings = ", ".join(f"clean.{key} = {value}" for key, value in self.config["clean"].items())
                raise PrepareError(
                    f"cleaning left none of the {read:,} {split} sentence pairs ({settings}); loosen them, "
                    "e.g. --set clean.max_tokens=250, and re-run with --force"
                )
        return kept, read

    def add_bpe(self, p: Pipeline, bpe_dest: str, bpe_prefix: str = "") -> None:
        p.add("learn-bpe", "joint BPE code", [self.code], self.learn_bpe)
        p.add(
            "apply-bpe",
            "apply BPE to all splits",
            self.split_files(bpe_dest, bpe_prefix),
            lambda: self.apply_bpe(bpe_dest, bpe_prefix),
        )

    def add_binarize(self, p: Pipeline) -> None:
        p.add(
            "binarize",
            "fairseq-preprocess"
            + (" --joined-dictionary" if self.config["binarize"]["joined_dictionary"] else ""),
            [os.path.join(self.data_bin, f"dict.{l}.txt") for l in self.langs],
            self.binarize,
        )
