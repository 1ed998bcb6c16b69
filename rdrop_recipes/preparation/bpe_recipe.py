"""The config-driven recipes' driver (``Recipe``: output-dir claim, stage pipeline, final
line) and what every translation recipe shares after its corpus front end (``BpeRecipe``:
joint BPE, clean-corpus-n, fairseq-preprocess)."""

import os
import sys
from typing import List, Sequence, Tuple

from rdrop_recipes.fairseq_io import preprocess as binarize
from rdrop_recipes.folders import prepared_dirs as output_dirs
from rdrop_recipes.folders.atomic_files import (
    atomic_open,
    copy_file,
    count_lines,
    read_lines,
    read_pairs,
    write_lines,
)
from rdrop_recipes.folders.stages import Pipeline
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.text import joint_bpe
from rdrop_recipes.text.cleaning import CleanRule, LineProcessor, extract_segments
from rdrop_recipes.text.parallel_lines import map_lines

SPLITS = ("train", "valid", "test")


class Recipe:
    prog = "prepare"

    def __init__(self, config: dict, stream=None):
        self.config = config
        self.out = stream or sys.stdout
        self.out_dir = config["paths"]["out_dir"]
        self.data_bin = config["paths"]["data_bin"]
        self.orig = os.path.join(self.out_dir, "orig")
        self.workers = config["run"]["workers"]

    def say(self, text: str) -> None:
        print(f"    {text}", file=self.out, flush=True)

    def pipeline(self, state_dir: str) -> Pipeline:
        raise NotImplementedError

    def make_work_dirs(self) -> None:
        """The folders the stages write into, made once the output dirs are claimed."""

    def run(self, force: bool) -> None:
        state_dir = output_dirs.claim_dirs(self.out_dir, self.data_bin, self.config, force)
        self.make_work_dirs()
        self.pipeline(state_dir).run()
        print(
            f"{self.prog}: finished; text in {self.out_dir}, binarized data in {self.data_bin}",
            file=self.out,
            flush=True,
        )


class BpeRecipe(Recipe):
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
        return write_lines(self.tmp_file(name), map_lines(processor, segments, 1))

    def make_work_dirs(self) -> None:
        os.makedirs(self.tmp, exist_ok=True)

    def run(self, force: bool) -> None:
        super().run(force)
        self.report_counts(self.out_dir)

    # -- shared stages ---------------------------------------------------------
    def learn_bpe(self) -> None:
        """Joint code on tmp/train.<src> + tmp/train.<tgt>, in that order as the shell recipes ``cat`` them."""
        bpe = self.config["bpe"]
        if bpe["code"]:
            if not os.path.isfile(bpe["code"]):
                raise PrepareError(f"BPE code {bpe['code']} not found; fix --bpe-code / bpe.code")
            self.say(f"using the existing code {bpe['code']}")
            copy_file(bpe["code"], self.code)
            return
        self.say(f"learning {bpe['merges']:,} merges on train.{self.src} + train.{self.tgt}")
        joint_bpe.learn(
            [self.tmp_file(f"train.{l}") for l in self.langs],
            self.code,
            bpe["merges"],
            bpe["min_frequency"],
            self.workers,
            self.tmp_file("train.joined"),
        )

    def apply_bpe(self, dest_dir: str, prefix: str = "") -> None:
        for l in self.langs:
            for split in SPLITS:
                dest = os.path.join(dest_dir, f"{prefix}{split}.{l}")
                joint_bpe.apply(
                    self.code, self.tmp_file(f"{split}.{l}"), dest, self.workers, self.progress_every
                )

    def binarize(self) -> None:
        cfg = self.config["binarize"]
        binarize.preprocess(
            self.out_dir,
            self.data_bin,
            self.src,
            self.tgt,
            self.workers,
            cfg["joined_dictionary"],
            cfg["extra_args"],
            self.config,
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
            if not kept:  # raised inside the with: neither output is left behind
                raise self.cleaned_away(split, ins[0], read)
        return kept, read

    def cleaned_away(self, split: str, source: str, read: int) -> PrepareError:
        if not read:
            return PrepareError(f"{source} holds no {split} sentence pairs; check the corpus it comes from")
        settings = ", ".join(f"clean.{key} = {value}" for key, value in self.config["clean"].items())
        return PrepareError(
            f"cleaning left none of the {read:,} {split} sentence pairs ({settings}); loosen them, "
            "e.g. --set clean.max_tokens=250, and re-run with --force"
        )

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
