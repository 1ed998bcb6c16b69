"""Files that are whole or absent: every output is written as ``name.tmp`` and renamed into place
only when complete; plus the line and JSON readers that go with them."""

import codecs
import contextlib
import io
import itertools
import json
import os
import shutil
from typing import Iterator, Optional, Sequence, Tuple

from rdrop_recipes.folders.markers import TMP_SUFFIX
from rdrop_recipes.process.errors import PrepareError


@contextlib.contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield ``path.tmp`` to write; it becomes ``path`` on clean exit and is removed otherwise."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + TMP_SUFFIX
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(tmp)
        raise


@contextlib.contextmanager
def atomic_open(path: str, binary: bool = False) -> Iterator:
    """A handle on ``path.tmp`` (UTF-8 text with ``\\n`` line ends, or ``binary``)."""
    mode = {"mode": "wb"} if binary else {"mode": "w", "encoding": "utf-8", "newline": "\n"}
    with atomic_path(path) as tmp, open(tmp, **mode) as handle:
        yield handle


def write_lines(path: str, lines) -> int:
    count = 0
    with atomic_open(path) as out:
        for count, line in enumerate(lines, start=1):
            out.write(line + "\n")
    return count


def write_json(path: str, value) -> None:
    with atomic_open(path) as out:
        json.dump(value, out, indent=2, sort_keys=False)
        out.write("\n")


def read_json(path: str):
    """What ``write_json`` wrote, or None where ``path`` is missing or not JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def copy_file(source: str, dest: str) -> None:
    with atomic_path(dest) as tmp:
        shutil.copyfile(source, tmp)


def concatenate(sources: Sequence[str], dest: str) -> None:
    with atomic_open(dest, binary=True) as out:
        for path in sources:
            with open(path, "rb") as part:
                shutil.copyfileobj(part, out, 1 << 20)


def _chunks(handle) -> Iterator[bytes]:
    return iter(lambda: handle.read(1 << 20), b"")


def read_lines(path: str) -> Iterator[str]:
    """Lines without their ``\\n``. Only ``\\n`` ends a line (as perl reads), so a stray ``\\r`` or
    U+2028 cannot misalign a corpus; bytes that are not UTF-8 are a PrepareError (replaced by
    U+FFFD they would become tokens nobody wrote)."""
    try:
        with open(path, encoding="utf-8", newline="\n") as handle:
            for line in handle:
                yield line[:-1] if line.endswith("\n") else line
    except UnicodeDecodeError:
        raise _not_utf8_in(path) from None


def checked_line_count(path: str) -> int:
    """How many lines ``read_lines`` yields, all of ``path`` checked to be UTF-8 at byte-scan speed."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    lines, last = 0, b""
    with open(path, "rb") as handle:
        try:
            for chunk in _chunks(handle):
                decoder.decode(chunk)
                lines += chunk.count(b"\n")
                last = chunk[-1:]
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            raise _not_utf8_in(path) from None
    return lines + (1 if last not in (b"", b"\n") else 0)


def decode_utf8(path: str, data: bytes) -> str:
    """``data``, the whole text of ``path``, as a string; a PrepareError naming the line if not UTF-8."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise _not_utf8_in(path, data) from None


def _not_utf8_in(path: str, data: Optional[bytes] = None) -> PrepareError:
    # the error path only: find the line again to name it (b"\n" is never inside a UTF-8 sequence);
    # in ``data``, the text of ``path`` already read, else in the file
    with open(path, "rb") if data is None else io.BytesIO(data) as lines:
        for number, line in enumerate(lines, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError as err:
                return PrepareError(
                    f"{path} line {number} is not UTF-8 text (byte 0x{line[err.start : err.start + 1].hex()} "
                    f"at position {err.start + 1} of the line); save the file as UTF-8 (e.g. iconv -f latin1 "
                    "-t utf-8) and re-run"
                )
    return PrepareError(f"{path} is not UTF-8 text; save it as UTF-8 and re-run")


def read_pairs(src_path: str, tgt_path: str) -> Iterator[Tuple[str, str]]:
    """Aligned lines of two files; unequal lengths (a damaged intermediate) are an error."""
    end = object()
    for src, tgt in itertools.zip_longest(read_lines(src_path), read_lines(tgt_path), fillvalue=end):
        if src is end or tgt is end:
            raise PrepareError(f"{src_path} and {tgt_path} differ in length; re-run with --force")
        yield src, tgt


def count_lines(path: str) -> int:
    with open(path, "rb") as handle:
        return sum(chunk.count(b"\n") for chunk in _chunks(handle))


@contextlib.contextmanager
def atomic_dir(path: str) -> Iterator[str]:
    """Yield an empty folder ``path.tmp`` to build in; it replaces ``path`` whole on clean exit (the
    old one goes first: the stage marker, written afterwards, covers the gap). On an error it stays,
    with the builder's logs for the user, and the next build clears it first."""
    tmp = path.rstrip("/") + TMP_SUFFIX
    if os.path.isdir(tmp):
        shutil.rmtree(tmp)
    os.makedirs(tmp)
    yield tmp
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.replace(tmp, path)
