"""fairseq's binarized data folders. Making one is the last step of every recipe: ``fairseq-preprocess``,
run as ``python -m fairseq_cli.preprocess`` so the active environment's fairseq is used even when its
console scripts are not on PATH. Checking one comes before a command reads it: fairseq ends a missing
folder or file in a FileNotFoundError traceback, sometimes after a whole training epoch; this says it
in one line first."""

import glob
import os
import subprocess
import sys
from typing import Dict, Optional, Sequence

from rdrop_recipes.folders.atomic_files import checked_line_count
from rdrop_recipes.process import children
from rdrop_recipes.process.errors import PrepareError, RecipeError


def run_preprocess(
    destdir: str,
    prefixes: Dict[str, str],
    workers: int,
    src: Optional[str] = None,
    tgt: Optional[str] = None,
    joined_dictionary: bool = False,
    extra_args: Sequence[str] = (),
    log: Optional[str] = None,
) -> None:
    """One fairseq-preprocess into ``destdir``, a folder of ``prepared_dirs.building_data_bin`` (GLUE runs one
    per folder inside it).
    ``prefixes``: each split's file prefix; ``src=None``: ``--only-source``; ``log``: a file for its
    messages instead of the console."""
    check_inputs(prefixes, src, tgt)
    languages = ["--only-source"] if src is None else ["--source-lang", src, "--target-lang", tgt]
    command = [sys.executable, "-m", "fairseq_cli.preprocess", *languages]
    for split in ("train", "valid", "test"):
        if split in prefixes:
            command += [f"--{split}pref", prefixes[split]]
    command += ["--destdir", destdir, "--workers", str(max(1, workers))]
    if joined_dictionary:
        command.append("--joined-dictionary")
    command += list(extra_args)
    print("    " + " ".join(command[2:]), flush=True)
    if log is None:
        status = children.run(command)
        where = " (its messages are above); fix that and re-run: finished stages are kept"
    else:
        with open(log, "w") as handle:
            status = children.run(command, stdout=subprocess.DEVNULL, stderr=handle)
        where = f" for {destdir}; its log: {log}"
    if status != 0:
        raise PrepareError(f"fairseq-preprocess failed with exit status {status}{where}")


def check_inputs(prefixes: Dict[str, str], src: Optional[str], tgt: Optional[str]) -> None:
    """Every file fairseq-preprocess will read is UTF-8 and holds a line: fairseq binarizes an empty
    file into a split nothing can load ("cannot mmap an empty file"), after the dir looks finished."""
    for split, joined in prefixes.items():
        for prefix in joined.split(","):  # fairseq's valid, valid1, ... from one --validpref
            for path in [prefix] if src is None else [f"{prefix}.{src}", f"{prefix}.{tgt}"]:
                if not os.path.isfile(path):
                    raise PrepareError(f"{path} is missing (the {split} split); re-run with --force")
                if checked_line_count(path) == 0:
                    raise PrepareError(
                        f"{path} is empty, so fairseq could not load the {split} split it "
                        "becomes; give that split data and re-run with --force"
                    )


def _split_files(folder: str, split: str, src: Optional[str], tgt: Optional[str]) -> bool:
    """``split.src-tgt.lang.{bin,idx}`` (either pair order) or its raw text (--dataset-impl raw);
    without languages, ``split.bin`` (``--only-source``) or ``split.*.bin``."""
    if not (src and tgt):
        pattern = os.path.join(glob.escape(folder), f"{glob.escape(split)}.*.bin")
        return os.path.isfile(os.path.join(folder, f"{split}.bin")) or bool(glob.glob(pattern))
    for pair in (f"{src}-{tgt}", f"{tgt}-{src}"):
        prefixes = [os.path.join(folder, f"{split}.{pair}.{lang}") for lang in (src, tgt)]
        binarized = all(os.path.isfile(p + ".bin") and os.path.isfile(p + ".idx") for p in prefixes)
        if binarized or all(os.path.isfile(p) for p in prefixes):
            return True
    return False


def _pairs(folder: str, split: str) -> list:
    """The language pairs of ``split`` in ``folder`` (``train.en-fr.en.bin`` -> en-fr)."""
    names = glob.glob(os.path.join(glob.escape(folder), f"{glob.escape(split)}.*-*.*.bin"))
    return sorted({os.path.basename(name)[len(split) + 1 :].split(".")[0] for name in names})


def prepare_hint(recipe: dict) -> str:
    """What to do about a missing or unfinished data folder: the config's [recipe] ``prepare_hint``."""
    return recipe.get("prepare_hint", "pass --data DIR")


def check_data_folder(
    recipe: dict, splits: Sequence[str], src: Optional[str] = None, tgt: Optional[str] = None
) -> None:
    """Refuse [recipe] ``data`` unless every ``a:b:c`` shard exists with its ``dict.*.txt`` and
    ``train``, and the first also holds the other ``splits`` (fairseq reads valid and test there)."""
    data, hint = recipe["data"], prepare_hint(recipe)
    folders = str(data).split(os.pathsep)
    for index, folder in enumerate(folders):
        if not os.path.isdir(folder) and len(folders) == 1:
            raise RecipeError(f"data folder {folder!r} not found; {hint}")
        if not os.path.isdir(folder):  # fairseq reads a:b:c as shards: a name with a colon is several
            raise RecipeError(
                f"data folder {folder!r} not found: {str(data)!r} holds {os.pathsep!r}, fairseq's shard "
                f"separator, so it names {len(folders)} folders; give a path without {os.pathsep!r} "
                f"(rename or link the folder), or shards that all exist"
            )
        # dict.<lang>.txt for translation, dict.txt for language modeling
        if not glob.glob(os.path.join(glob.escape(folder), "dict*.txt")):
            raise RecipeError(f"{folder!r} has no dict.*.txt, so it is not fairseq-preprocess output; {hint}")
        for split in splits:
            if (index == 0 or split == "train") and not _split_files(folder, split, src, tgt):
                pair = f"{src}-{tgt}" if src and tgt else "*"
                others = _pairs(folder, split) if src and tgt else []
                if others:
                    raise RecipeError(
                        f"{folder!r} holds {split!r} for the language pair(s) {', '.join(others)}, not "
                        f"{pair}: pass --data with a {pair} folder, or set the languages of this one "
                        f"(--set source_lang=X --set target_lang=Y)"
                    )
                raise RecipeError(
                    f"{folder!r} has the dictionaries but no binarized {split!r} split "
                    f"({split}.{pair}.*.bin/.idx): fairseq-preprocess did not finish or was not "
                    f"given that split; {hint}"
                )
