"""What every translation recipe shares after its corpus-specific front end:
a joint BPE code, BPE applied to train/valid/test, fairseq-preprocess, and
the run loop (output-dir claim, stage pipeline, final counts)."""

import os
import sys
from typing import Dict, List, Sequence, Tuple

from rdrop_recipes.fairseq_io import preprocess as binarize
from rdrop_recipes.folders import prepared_dirs as output_dirs
from rdrop_recipes.folders.atomic_files import atomic_open, copy_file, count_lines, read_pairs
from rdrop_recipes.folders.stages import Pipeline
from rdrop_recipes.process.errors import PrepareError
from rdrop_recipes.text import joint_bpe
from rdrop_recipes.text.cleaning import CleanRule

SPLITS = ("train", "valid", "test")


class BpeRecipe:
    prog = "prepare"

    def __init__(self, config: dict, stream=None):
        self.config = config
        self.out = stream or sys.stdout
        self.src, self.tgt = config["languages"]["src"], config["languages"]["tgt"]
        self.langs = (self.src, self.tgt)
        self.out_dir = config["paths"]["out_dir"]
        self.tmp = os.path.join(self.out_dir, "tmp")
        self.orig = os.path.join(self.out_dir, "orig")
        self.workers = config["run"]["workers"]
        self.progress_every = config["run"]["progress_every"]
        self.code = os.path.join(self.out_dir, "code")

    def tmp_file(self, name: str) -> str:
        return os.path.join(self.tmp, name)

    def split_files(self, directory: str, prefix: str = "") -> List[str]:
        return [os.path.join(directory, f"{prefix}{split}.{l}") for split in SPLITS for l in self.langs]

    def say(self, text: str) -> None:
        print(f"    {text}", file=self.out, flush=True)

    def report_counts(self, directory: str, prefix: str = "") -> Dict[str, int]:
        counts = {
            split: count_lines(os.path.join(directory, f"{prefix}{split}.{self.src}")) for split in SPLITS
        }
        self.say(" / ".join(f"{split} {n:,}" for split, n in counts.items()) + " sentence pairs")
        return counts

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
                joint_bpe.apply(
                    self.code,
                    self.tmp_file(f"{split}.{l}"),
                    os.path.join(dest_dir, f"{prefix}{split}.{l}"),
                    self.workers,
                    self.progress_every,
                )

    def binarize(self) -> None:
        cfg = self.config["binarize"]
        binarize.preprocess(
            self.out_dir,
            self.config["paths"]["data_bin"],
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
        """clean-corpus-n (the [clean] table) over the aligned files ``ins`` into ``outs``,
        lowercased where asked: (pairs kept, pairs read). A split it leaves empty is refused
        here, with the settings to change, before fairseq binarizes it into a split no run
        can load ("cannot mmap an empty file")."""
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
            [os.path.join(self.config["paths"]["data_bin"], f"dict.{l}.txt") for l in self.langs],
            self.binarize,
        )

    # -- driver ----------------------------------------------------------------
    def pipeline(self, state_dir: str) -> Pipeline:
        raise NotImplementedError

    def run(self, force: bool) -> Dict[str, int]:
        state_dir = output_dirs.claim_dirs(self.out_dir, self.config["paths"]["data_bin"], self.config, force)
        os.makedirs(self.tmp, exist_ok=True)
        self.pipeline(state_dir).run()
        print(
            f"{self.prog}: finished; text in {self.out_dir}, binarized data in "
            f"{self.config['paths']['data_bin']}",
            file=self.out,
            flush=True,
        )
        return self.report_counts(self.out_dir)
