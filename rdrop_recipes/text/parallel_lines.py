"""A per-line transform over a big file on all cores, line order kept. sacremoses and
subword-nmt are pure Python (one core tokenizes WMT14 in hours); only a bounded window of
chunks is in flight, so memory stays flat (``Pool.imap`` would read the whole input ahead)."""

import collections
import itertools
import multiprocessing
import os
import sys
import time
from typing import Callable, Iterable, Iterator, List, Optional

from rdrop_recipes.folders.atomic_files import write_lines

CHUNK_LINES = 2000

_worker_fn: Optional[Callable[[str], str]] = None


def default_workers() -> int:
    return os.cpu_count() or 1


class Progress:
    """A line count every ``progress_every`` lines: no tqdm redraws in unattended logs."""

    def __init__(self, label: str, progress_every: int, stream=None):
        self.label, self.progress_every = label, max(1, progress_every)
        self.stream = stream or sys.stdout
        self.count, self._next = 0, self.progress_every
        self._start = time.monotonic()

    def update(self, n: int) -> None:
        self.count += n
        while self.count >= self._next:
            self._print(f"{self._next:,} lines")
            self._next += self.progress_every

    def close(self) -> None:
        seconds = time.monotonic() - self._start
        self._print(f"{self.count:,} lines done in {seconds:.1f}s")

    def _print(self, what: str) -> None:
        print(f"    {self.label}: {what}", file=self.stream, flush=True)


def _init_worker(factory) -> None:
    global _worker_fn
    _worker_fn = factory.build()


def _run_chunk(chunk: List[str]) -> List[str]:
    return [_worker_fn(line) for line in chunk]


def _chunks(lines: Iterable[str], size: int) -> Iterator[List[str]]:
    lines = iter(lines)
    while chunk := list(itertools.islice(lines, size)):
        yield chunk


def _pooled(factory, chunks: Iterator[List[str]], workers: int) -> Iterator[List[str]]:
    window = 4 * workers
    with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(factory,)) as pool:
        pending: collections.deque = collections.deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_run_chunk, (chunk,)))
            if len(pending) >= window:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


def map_lines(
    factory,
    lines: Iterable[str],
    workers: int,
    progress: Optional[Progress] = None,
    chunk_lines: int = CHUNK_LINES,
) -> Iterator[str]:
    """``factory.build()(line)`` for every line, in order. ``factory`` is picklable; each
    worker builds it once. ``workers <= 1`` runs here (no pool start-up for small splits)."""
    chunks = _chunks(lines, chunk_lines)
    if workers <= 1:
        fn = factory.build()
        results = ([fn(line) for line in chunk] for chunk in chunks)
    else:
        results = _pooled(factory, chunks, workers)
    for done in results:
        if progress:
            progress.update(len(done))
        yield from done


def map_file(factory, lines: Iterable[str], dest: str, workers: int, label: str, progress_every: int) -> None:
    """``map_lines`` written to ``dest``, with a line count labelled ``label``."""
    progress = Progress(label, progress_every)
    write_lines(dest, map_lines(factory, lines, workers, progress))
    progress.close()
