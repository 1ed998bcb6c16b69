"""Run a per-line transform over a big file on all cores, keeping line order.

sacremoses and subword-nmt are pure Python: one core tokenizes WMT14's 4.5M
pairs in hours, so the lines are cut into chunks and farmed out to a process
pool. Only a bounded window of chunks is in flight, so memory stays flat
however big the corpus (``Pool.imap`` would read the whole input ahead).
"""

import collections
import multiprocessing
import os
import sys
import time
from typing import Callable, Iterable, Iterator, List, Optional

CHUNK_LINES = 2000

_worker_fn: Optional[Callable[[str], str]] = None


def default_workers() -> int:
    return os.cpu_count() or 1


class Progress:
    """A line counter on stdout every ``progress_every`` lines: enough to see a long
    step move without tqdm's redraws cluttering logs of unattended runs."""

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
    chunk: List[str] = []
    for line in lines:
        chunk.append(line)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def map_lines(
    factory,
    lines: Iterable[str],
    workers: int,
    progress: Optional[Progress] = None,
    chunk_lines: int = CHUNK_LINES,
) -> Iterator[str]:
    """Yield ``factory.build()(line)`` for every line, in input order.

    ``factory`` is a picklable object with a ``build()`` returning the
    line function; each worker builds it once. ``workers <= 1`` runs in this
    process (no pool start-up, which matters for small splits and tests).
    """
    if workers <= 1:
        fn = factory.build()
        for chunk in _chunks(lines, chunk_lines):
            yield from (fn(line) for line in chunk)
            if progress:
                progress.update(len(chunk))
        return
    window = 4 * workers
    with multiprocessing.Pool(workers, initializer=_init_worker, initargs=(factory,)) as pool:
        pending: collections.deque = collections.deque()
        for chunk in _chunks(lines, chunk_lines):
            pending.append(pool.apply_async(_run_chunk, (chunk,)))
            if len(pending) >= window:
                done = pending.popleft().get()
                if progress:
                    progress.update(len(done))
                yield from done
        while pending:
            done = pending.popleft().get()
            if progress:
                progress.update(len(done))
            yield from done
