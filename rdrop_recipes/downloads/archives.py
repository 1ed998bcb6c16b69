"""Release archives: download, sanity checks, member extraction. Every failure a user can
cause (wrong path, an HTML page saved as ``.tgz``, a truncated download, another release)
is a one-line ``PrepareError`` saying what to do, never a tarfile traceback."""

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
    """Without a leading ``./`` (some tar tools add it)."""
    while name.startswith("./"):
        name = name[2:]
    return name


def html_hint(head: bytes) -> str:
    return " (it looks like an HTML page: a failed download?)" if head.lstrip()[:1] == b"<" else ""


def file_head(path: str, fix: str) -> bytes:
    if not os.path.isfile(path):
        raise PrepareError(f"archive {path} not found; {fix}")
    with open(path, "rb") as handle:
        return handle.read(64)


def check_gzip(path: str, fix: str) -> None:
    if os.path.isdir(path):
        raise PrepareError(f"archive {path} is a folder; pass the .tgz file itself; {fix}")
    head = file_head(path, fix)
    if head[:2] != GZIP_MAGIC:
        raise PrepareError(f"archive {path} is not a gzip file{html_hint(head)}; {fix}")


def check_zip(path: str, fix: str) -> None:
    """Exists, starts like a zip and has its central directory (a truncated download lacks it)."""
    head = file_head(path, fix)
    if head[:4] != ZIP_MAGIC or not zipfile.is_zipfile(path):
        raise PrepareError(f"archive {path} is not a complete zip file{html_hint(head)}; {fix}")


@contextlib.contextmanager
def failures_as_prepare_error(what: str, fix: str, errors: tuple):
    """``errors`` become ``PrepareError("<what> (<error>); <fix>")``; a disk problem stays itself."""
    try:
        yield
    except errors as err:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EROFS):
            raise
        raise PrepareError(f"{what} ({err}); {fix}") from None


def copy_member(source, dest_file, size: int, name: str) -> None:
    shutil.copyfileobj(source, dest_file, 1 << 20)
    if dest_file.tell() != size:
        raise EOFError(f"member {name} is short")


def lacks(path: str, missing, fix: str) -> PrepareError:
    return PrepareError(f"archive {path} lacks {', '.join(missing)}: not the expected release; {fix}")


def extract_members(path: str, wanted: Dict[str, str], fix: str) -> None:
    """Copy tar.gz members to files (``wanted``: member name -> destination) in one streaming
    pass read to the very end: gzip's CRC-32 and length follow the tar end marker, where
    tarfile stops, so without that a flipped bit goes unnoticed. Destinations stay
    temporary until the whole archive checks out."""
    check_gzip(path, fix)
    found = set()
    errors = (tarfile.TarError, EOFError, zlib.error, OSError)
    with failures_as_prepare_error(f"archive {path} is corrupt or truncated", fix, errors):
        with contextlib.ExitStack() as pending:  # renames into place when the block ends cleanly
            with gzip.open(path, "rb") as stream:
                with tarfile.open(fileobj=stream, mode="r|") as archive:
                    for info in archive:
                        name = member_name(info.name)
                        if name not in wanted or not info.isfile():
                            continue
                        tmp = pending.enter_context(atomic_path(wanted[name]))
                        with open(tmp, "wb") as out:
                            copy_member(archive.extractfile(info), out, info.size, name)
                        found.add(name)
                while stream.read(1 << 20):  # to the end, where gzip checks CRC and length
                    pass
    missing = sorted(set(wanted) - found)
    if missing:
        raise lacks(path, missing, fix)


def extract_zip_members(path: str, wanted: Dict[str, str], fix: str) -> None:
    """``extract_members`` for a zip: zipfile CRC-checks each member as it is copied, and a
    missing member fails before any copying."""
    check_zip(path, fix)
    errors = (zipfile.BadZipFile, EOFError, zlib.error, OSError)
    with failures_as_prepare_error(f"archive {path} is corrupt or truncated", fix, errors):
        with zipfile.ZipFile(path) as archive:
            members = {member_name(info.filename): info for info in archive.infolist() if not info.is_dir()}
            missing = sorted(set(wanted) - set(members))
            if missing:
                raise lacks(path, missing, fix)
            for name, dest in wanted.items():
                with archive.open(members[name]) as source, atomic_open(dest, binary=True) as out:
                    copy_member(source, out, members[name].file_size, name)


def download(url: str, dest: str, fix: str, stream=None) -> None:
    """``url`` to ``dest`` (written aside, renamed), a progress line per 10 MB."""
    out = stream or sys.stdout
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    print(f"    downloading {url}", file=out, flush=True)
    received, next_report = 0, 10 << 20
    with failures_as_prepare_error(
        f"could not download {url}", fix, (urllib.error.URLError, OSError, ValueError)
    ):
        with urllib.request.urlopen(url, timeout=60) as response, atomic_open(dest, binary=True) as fh:
            while block := response.read(1 << 20):
                fh.write(block)
                received += len(block)
                if received >= next_report:
                    print(f"    {received >> 20} MB", file=out, flush=True)
                    next_report += 10 << 20
    print(f"    saved {dest} ({received >> 20} MB)", file=out, flush=True)
