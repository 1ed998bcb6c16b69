"""Pre-trained fairseq models by name (downloaded once, or unpacked from ``--model-archive``)
or a ``model.pt`` path."""

import os
from typing import Optional, Tuple

from rdrop_recipes.downloads.archives import download, extract_members
from rdrop_recipes.process.errors import RecipeError

BASE = "https://dl.fbaipublicfiles.com/fairseq/models/"
# name -> (archive file, member inside it, --arch)
MODELS = {
    "roberta.base": ("roberta.base.tar.gz", "roberta.base/model.pt", "roberta_base"),
    "roberta.large": ("roberta.large.tar.gz", "roberta.large/model.pt", "roberta_large"),
    "bart.base": ("bart.base.tar.gz", "bart.base/model.pt", "bart_base"),
    "bart.large": ("bart.large.tar.gz", "bart.large/model.pt", "bart_large"),
}


def resolve(
    spec: str, model_dir: str, archive: Optional[str] = None, offline: bool = False, dry_run: bool = False
) -> Tuple[str, Optional[str]]:
    """(checkpoint path, arch or None when ``spec`` is a path: the caller's config says)."""
    if spec not in MODELS:
        if os.path.isfile(spec):
            return spec, None
        names = ", ".join(MODELS)
        raise RecipeError(f"--model {spec!r} is neither a file nor a known model ({names})")
    archive_name, member, arch = MODELS[spec]
    path = os.path.join(model_dir, member)
    if os.path.isfile(path) or dry_run:
        return path, arch
    archive = archive or os.path.join(model_dir, archive_name)
    fix = f"download {BASE}{archive_name} elsewhere and pass --model-archive FILE, or --model PATH/model.pt"
    if not os.path.isfile(archive):
        if offline:
            raise RecipeError(f"{path} is missing and --offline forbids downloading it; {fix}")
        download(BASE + archive_name, archive, fix)
    extract_members(archive, {member: path}, fix)
    return path, arch
