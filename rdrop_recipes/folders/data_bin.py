"""Is this the binarized data a command will read? fairseq ends a missing folder or file in a
FileNotFoundError traceback, sometimes after a whole training epoch; this says it in one line first."""

import glob
import os
from typing import Optional, Sequence

from rdrop_recipes.process.errors import RecipeError


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


def check_data_folder(
    data: str,
    splits: Sequence[str],
    hint: str,
    src: Optional[str] = None,
    tgt: Optional[str] = None,
) -> None:
    """Refuse ``data`` unless every ``a:b:c`` shard exists with its ``dict.*.txt`` and ``train``,
    and the first also holds the other ``splits`` (fairseq reads valid and test there)."""
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
