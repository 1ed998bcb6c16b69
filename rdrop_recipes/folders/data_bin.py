"""Is this the binarized data a command will read? Checked before fairseq starts.

fairseq ends a missing folder, a folder without dictionaries or one lacking a
split's ``.bin``/``.idx`` in a FileNotFoundError traceback, sometimes after
building the model (or, for valid, after a whole training epoch). The train and
evaluate recipes call :func:`check_data_folder` first, with the splits they
will read, so the user sees one line naming the missing file and the fix.
"""

import glob
import os
from typing import Optional, Sequence

from rdrop_recipes.process.errors import RecipeError


def _split_files(folder: str, split: str, src: Optional[str], tgt: Optional[str]) -> bool:
    """Whether ``folder`` holds ``split`` binarized as fairseq's translation task reads it:
    ``split.src-tgt.lang.{bin,idx}`` (either pair order), or the raw text of --dataset-impl raw.
    Without languages, also ``split.bin``: what ``--only-source`` writes for language modeling."""
    if not (src and tgt):
        if os.path.isfile(os.path.join(folder, f"{split}.bin")):
            return True
        return bool(glob.glob(os.path.join(glob.escape(folder), f"{glob.escape(split)}.*.bin")))
    for pair in (f"{src}-{tgt}", f"{tgt}-{src}"):
        prefixes = [os.path.join(folder, f"{split}.{pair}.{lang}") for lang in (src, tgt)]
        if all(os.path.isfile(p + ".bin") and os.path.isfile(p + ".idx") for p in prefixes):
            return True
        if all(os.path.isfile(p) for p in prefixes):
            return True
    return False


def _pairs(folder: str, split: str) -> list:
    """The language pairs of ``split`` binarized in ``folder`` (``train.en-fr.en.bin`` -> en-fr)."""
    names = glob.glob(os.path.join(glob.escape(folder), f"{glob.escape(split)}.*-*.*.bin"))
    return sorted({os.path.basename(name)[len(split) + 1 :].split(".")[0] for name in names})


def _missing_folder(data: str, folder: str, folders: Sequence[str], hint: str) -> RecipeError:
    if len(folders) == 1:
        return RecipeError(f"data folder {folder!r} not found; {hint}")
    # fairseq reads a:b:c as shards, so a folder whose name holds a colon is several folders
    return RecipeError(
        f"data folder {folder!r} not found: {data!r} holds {os.pathsep!r}, fairseq's shard separator, "
        f"so it names {len(folders)} folders; give a path without {os.pathsep!r} (rename or link the "
        f"folder), or shards that all exist"
    )


def check_data_folder(
    data: str,
    splits: Sequence[str],
    hint: str,
    src: Optional[str] = None,
    tgt: Optional[str] = None,
) -> None:
    """Refuse ``data`` unless every folder in it (fairseq takes ``a:b:c`` shards) exists,
    has its ``dict.*.txt`` and the binarized ``splits`` (in the first folder, as fairseq
    reads valid and test there; ``train`` in every shard)."""
    folders = str(data).split(os.pathsep)
    for index, folder in enumerate(folders):
        if not os.path.isdir(folder):
            raise _missing_folder(str(data), folder, folders, hint)
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
