"""Getting the release archives: download, sanity checks, member extraction.

Every failure a user can cause (wrong path, an HTML error page saved as
``.tgz``, a truncated download, a different release lacking a file) becomes
a one-line ``PrepareError`` that says what to do, never a tarfile traceback.
"""

import errno
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zlib
from typing import Dict

from .atomic_stages import TMP_SUFFIX
from .errors import PrepareError

GZIP_MAGIC = b"\x1f\x8b"


def member_name(name: str) -> str:
    """Tar member names without a leading ``./`` (some tar tools add it)."""
    while name.startswith("./"):
        name = name[2:]
    return name


def check_gzip(path: str, fix: str) -> None:
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
    never re-read to reach a later member). Each destination appears only
    once complete; a member missing from the archive is an error.
    """
    check_gzip(path, fix)
    found = set()
    try:
        with tarfile.open(path, "r|gz") as archive:
            for info in archive:
                name = member_name(info.name)
                if name not in wanted or not info.isfile():
                    continue
                dest = wanted[name]
                os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
                source = archive.extractfile(info)
                with open(dest + TMP_SUFFIX, "wb") as out:
                    shutil.copyfileobj(source, out, 1 << 20)
                if os.path.getsize(dest + TMP_SUFFIX) != info.size:
                    raise EOFError(f"member {name} is short")
                os.replace(dest + TMP_SUFFIX, dest)
                found.add(name)
    except (tarfile.TarError, EOFError, zlib.error, OSError) as err:
        if _is_disk_problem(err):
            raise
        raise PrepareError(f"archive {path} is corrupt or truncated ({err}); {fix}") from None
    missing = sorted(set(wanted) - found)
    if missing:
        raise PrepareError(f"archive {path} lacks {', '.join(missing)}: not the expected release; {fix}")


def download(url: str, dest: str, fix: str, stream=None) -> None:
    """Fetch ``url`` to ``dest`` (via ``dest.tmp``) with a progress line per 10 MB."""
    out = stream or sys.stdout
    os.makedirs(os.path.dirname(os.path.abspath(dest)), exist_ok=True)
    print(f"    downloading {url}", file=out, flush=True)
    received, next_report = 0, 10 << 20
    try:
        with urllib.request.urlopen(url, timeout=60) as response, open(dest + TMP_SUFFIX, "wb") as fh:
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
    os.replace(dest + TMP_SUFFIX, dest)
    print(f"    saved {dest} ({received >> 20} MB)", file=out, flush=True)
