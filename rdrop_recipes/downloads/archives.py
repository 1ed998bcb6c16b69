"""Getting the release archives: download, sanity checks, member extraction.

Every failure a user can cause (wrong path, an HTML error page saved as
``.tgz``, a truncated download, a different release lacking a file) becomes
a one-line ``PrepareError`` that says what to do, never a tarfile traceback.
"""

import contextlib
import errno
import gzip
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
import zlib
from typing import Dict

from rdrop_recipes.folders.atomic_files import atomic_open, atomic_path
from rdrop_recipes.process.errors import PrepareError

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"


def member_name(name: str) -> str:
    """Tar member names without a leading ``./`` (some tar tools add it)."""
    while name.startswith("./"):
        name = name[2:]
    return name


def check_gzip(path: str, fix: str) -> None:
    if os.path.isdir(path):
        raise PrepareError(f"archive {path} is a folder; pass the .tgz file itself; {fix}")
    if not os.path.isfile(path):
        raise PrepareError(f"archive {path} not found; {fix}")
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head[:2] != GZIP_MAGIC:
        looks = " (it looks like an HTML page: a failed download?)" if head.lstrip()[:1] == b"<" else ""
        raise PrepareError(f"archive {path} is not a gzip file{looks}; {fix}")


def _is_disk_problem(err: BaseException) -> bool:
    return isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS)


def extract_members(path: str, wanted: Dict[str, str], fix: str) -> None:
    """Copy archive members to files: ``wanted`` maps member name -> destination.

    One streaming pass over the archive (a multi-GB Common Crawl tarball is
    never re-read to reach a later member), read to the very end: gzip's
    CRC-32 and length sit in its last 8 bytes, after the tar end marker where
    tarfile stops reading, so without that a flipped bit inside a member goes
    unnoticed. Every destination stays a temporary file until the whole
    archive has checked out; a member missing from the archive is an error.
    """
    check_gzip(path, fix)
    found = set()
    try:
        with contextlib.ExitStack() as pending:  # renames into place when the block ends cleanly
            with gzip.open(path, "rb") as stream:
                with tarfile.open(fileobj=stream, mode="r|") as archive:
                    for info in archive:
                        name = member_name(info.name)
                        if name not in wanted or not info.isfile():
                            continue
                        tmp = pending.enter_context(atomic_path(wanted[name]))
                        with open(tmp, "wb") as out:
                            shutil.copyfileobj(archive.extractfile(info), out, 1 << 20)
                            if out.tell() != info.size:
                                raise EOFError(f"member {name} is short")
                        found.add(name)
                while stream.read(1 << 20):  # to the end, where gzip checks CRC and length
                    pass
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        if _is_disk_problem(err):
            raise
        raise PrepareError(f"archive {path} is corrupt or truncated ({err}); {fix}") from None
    missing = sorted(set(wanted) - found)
    if missing:
        raise PrepareError(f"archive {path} lacks {', '.join(missing)}: not the expected release; {fix}")


def check_zip(path: str, fix: str) -> None:
    """A quick look before any stage runs: the file exists, starts like a zip and
    has its central directory (which a truncated download lacks)."""
    if not os.path.isfile(path):
        raise PrepareError(f"archive {path} not found; {fix}")
    with open(path, "rb") as handle:
        head = handle.read(64)
    if head[:4] != ZIP_MAGIC or not zipfile.is_zipfile(path):
        looks = " (it looks like an HTML page: a failed download?)" if head.lstrip()[:1] == b"<" else ""
        raise PrepareError(f"archive {path} is not a complete zip file{looks}; {fix}")


def extract_zip_members(path: str, wanted: Dict[str, str], fix: str) -> None:
    """``extract_members`` for a zip: every member is CRC-checked while it is
    copied (zipfile raises at its end on a mismatch), so a damaged member never
    reaches its destination, and a missing member fails before any copying."""
    check_zip(path, fix)
    try:
        with zipfile.ZipFile(path) as archive:
            members = {member_name(info.filename): info for info in archive.infolist() if not info.is_dir()}
            missing = sorted(set(wanted) - set(members))
            if missing:
                raise PrepareError(
                    f"archive {path} lacks {', '.join(missing)}: not the expected release; {fix}"
                )
            for name, dest in wanted.items():
                info = members[name]
                with archive.open(info) as source, atomic_open(dest, binary=True) as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                    if out.tell() != info.file_size:
                        raise EOFError(f"member {name} is short")
    except (zipfile.BadZipFile, EOFError, zlib.error, OSError) as err:
        if _is_disk_problem(err):
            raise
        raise PrepareError(f"archive {path} is corrupt or truncated ({err}); {fix}") from None


def download(url: str, dest: str, fix: str, stream=None) -> None:
    """Fetch ``url`` to ``dest`` (via ``dest.tmp``) with a progress line per 10 MB."""
    out = stream or sys.stdout
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    print(f"    downloading {url}", file=out, flush=True)
    received, next_report = 0, 10 << 20
    try:
        with urllib.request.urlopen(url, timeout=60) as response, atomic_open(dest, binary=True) as fh:
            while True:
                block = response.read(1 << 20)
                if not block:
                    break
                fh.write(block)
                received += len(block)
                if received >= next_report:
                    print(f"    {received >> 20} MB", file=out, flush=True)
                    next_report += 10 << 20
    except (urllib.error.URLError, OSError, ValueError) as err:
        if _is_disk_problem(err):
            raise
        raise PrepareError(f"could not download {url} ({err}); {fix}") from None
    print(f"    saved {dest} ({received >> 20} MB)", file=out, flush=True)
