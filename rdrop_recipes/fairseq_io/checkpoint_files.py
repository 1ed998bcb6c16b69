"""Is a file the user names a fairseq checkpoint? Checked before torch or fairseq reads it.

torch ends an empty, truncated or foreign ``.pt`` in an unpickling or zip
traceback, and fairseq-generate in a KeyError deep in its loader. A
checkpoint that torch >= 1.6 wrote is a zip archive whose ``data.pkl`` holds
the pickled dict (the tensors are separate members), so the check needs
neither torch nor fairseq: the zip's central directory (at the end, so a
truncated file has none), then the small pickle, which must carry the
``model`` entry every fairseq checkpoint has.
"""

import os
import pickletools
import zipfile

from rdrop_recipes.process.errors import RecipeError

PICKLE_PROTOCOL_2 = b"\x80"  # first byte of torch's pre-1.6 (non-zip) format


def _pickle_strings(data: bytes) -> set:
    strings = set()
    try:
        for _opcode, arg, _pos in pickletools.genops(data):
            if isinstance(arg, str):
                strings.add(arg)
    except Exception:  # noqa: BLE001 - a damaged pickle: whatever pickletools trips over
        return set()
    return strings


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
            pickles = [name for name in archive.namelist() if name.rsplit("/", 1)[-1] == "data.pkl"]
            if not pickles:
                raise RecipeError(f"{path!r} is a zip file but not a torch checkpoint; {fix}")
            strings = _pickle_strings(archive.read(pickles[0]))
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
        raise RecipeError(f"checkpoint {path!r} is damaged ({err}); {fix}") from None
    if "model" not in strings:
        raise RecipeError(f"{path!r} is a torch file but not a fairseq checkpoint (no 'model' entry); {fix}")
