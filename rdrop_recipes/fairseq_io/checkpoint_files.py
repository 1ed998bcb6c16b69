"""fairseq's checkpoint files: which ones a folder or a glob names, in what order, and whether a
file is one at all, checked without torch or fairseq (which end a damaged one in a traceback).
``checkpoint_best.pt`` and ``checkpoint_last.pt`` are copies of numbered ones; torch >= 1.6 writes
a zip whose ``data.pkl`` holds the pickled dict."""

import glob
import os
import pickletools
import re
import zipfile
from typing import List, Optional

from rdrop_recipes.process.errors import RecipeError

PICKLE_PROTOCOL_2 = b"\x80"  # first byte of torch's pre-1.6 (non-zip) format
# checkpoint<epoch>.pt or checkpoint_<epoch>_<updates>.pt, named in an error by _KINDS[kind]
_NUMBERED = re.compile(r"^checkpoint(?:(\d+)|_\d+_(\d+))\.pt$")
_KINDS = ("checkpoint<epoch>.pt", "checkpoint_<epoch>_<updates>.pt")
_COPIES = ("checkpoint_best", "checkpoint_last", "checkpoint.best_")


def checkpoint_order(path):
    """Sort key (kind, number): 1 for update-numbered names, 0 for epoch-numbered, else None."""
    match = _NUMBERED.match(os.path.basename(path))
    if match is None:
        return None
    epoch, updates = match.groups()
    return (0, int(epoch)) if epoch else (1, int(updates))


def last_checkpoints(folder, count, by="auto") -> List[str]:
    """The ``count`` newest numbered checkpoints of ``folder``, oldest first."""
    if count < 1:
        raise RecipeError(f"--last must be >= 1 (got {count})")
    if not os.path.isdir(folder):
        raise RecipeError(f"checkpoint folder {folder!r} does not exist; train first or pass another --dir")
    paths = glob.glob(os.path.join(folder, "checkpoint*.pt"))
    numbered = sorted((key, p) for p in paths if (key := checkpoint_order(p)))
    by_updates = any(key[0] == 1 for key, _ in numbered)
    kind = 1 if by == "updates" or (by == "auto" and by_updates) else 0
    pool = [p for key, p in numbered if key[0] == kind]
    if len(pool) < count:
        raise RecipeError(
            f"{folder!r} has {len(pool)} {_KINDS[kind]} file(s), {count} wanted; train longer, lower the "
            "count, or save more (--save-interval-updates / --keep-interval-updates)"
        )
    return pool[-count:]


def oldest_to_newest(paths):
    """``paths`` ordered oldest to newest where their names tell, else as given."""
    keys = [checkpoint_order(p) for p in paths]
    if all(k is not None for k in keys) and len({k[0] for k in keys}) == 1:
        return [p for _, p in sorted(zip(keys, paths))]
    return list(paths)


def expand(patterns):
    """Files named by ``patterns`` (globs allowed), each file once, in the order given. Where a glob
    matches numbered checkpoints, it leaves out their copies (best, last), or the same parameters
    would count twice in a mean; named explicitly, they are kept."""
    paths, seen = [], set()
    for pattern in patterns:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise RecipeError(f"no checkpoint matches {pattern!r}")
        if glob.has_magic(pattern) and any(checkpoint_order(p) for p in matches):
            matches = [
                p for p in matches if checkpoint_order(p) or not os.path.basename(p).startswith(_COPIES)
            ]
        for path in matches:
            if not os.path.isfile(path):
                raise RecipeError(f"checkpoint {path!r} not found")
            if os.path.realpath(path) not in seen:  # ./a.pt, a.pt and a link to it are one file
                seen.add(os.path.realpath(path))
                paths.append(path)
    return paths


def _pickle_strings(archive: zipfile.ZipFile) -> Optional[set]:
    """The strings (entry and parameter names) of a zip checkpoint's pickle; None without one."""
    pickles = [name for name in archive.namelist() if name.rsplit("/", 1)[-1] == "data.pkl"]
    if not pickles:
        return None
    data = archive.read(pickles[0])
    try:
        return {arg for _, arg, _ in pickletools.genops(data) if isinstance(arg, str)}
    except Exception:  # noqa: BLE001 - a damaged pickle: whatever pickletools trips over
        return set()


def checkpoint_strings(path: str) -> set:
    """``_pickle_strings`` of ``path``; empty for the legacy format or a file that is no checkpoint."""
    if not zipfile.is_zipfile(path):
        return set()
    with zipfile.ZipFile(path) as archive:
        return _pickle_strings(archive) or set()


def check_checkpoint(path: str) -> None:
    """Raise a one-line RecipeError unless ``path`` looks like a complete fairseq checkpoint."""
    fix = "pass a checkpoint that fairseq-train wrote (checkpoint_best.pt, checkpoint_<epoch>_<updates>.pt)"
    if not os.path.isfile(path):
        raise RecipeError(f"checkpoint {path!r} not found; {fix}")
    if os.path.getsize(path) == 0:
        raise RecipeError(f"checkpoint {path!r} is empty (0 bytes: an interrupted save or copy); {fix}")
    if not zipfile.is_zipfile(path):
        with open(path, "rb") as handle:
            if handle.read(1) == PICKLE_PROTOCOL_2:
                return  # the legacy format: torch.load reads it, and its errors are caught there
        raise RecipeError(f"{path!r} is not a torch checkpoint (truncated, or another kind of file); {fix}")
    try:
        with zipfile.ZipFile(path) as archive:
            strings = _pickle_strings(archive)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise RecipeError(f"checkpoint {path!r} is damaged ({err}); {fix}") from None
    if strings is None:
        raise RecipeError(f"{path!r} is a zip file but not a torch checkpoint; {fix}")
    if "model" not in strings:
        raise RecipeError(f"{path!r} is a torch file but not a fairseq checkpoint (no 'model' entry); {fix}")
