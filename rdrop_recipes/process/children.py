"""Child processes die with their parent. A program the recipe starts runs in its own process
group, which whatever ends the recipe (Ctrl-C, ``kill``, an error, on Linux even SIGKILL)
terminates with its workers, so no fairseq-preprocess keeps writing into a folder that a re-run
will use. The fork hooks, installed by ``process.exit.exits_cleanly`` when a recipe's main starts
(not on import), give the processes a recipe forks the signal masks and the same fate."""

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
from typing import Iterator, Sequence

GRACE_SECONDS = 10  # for a child to exit on SIGTERM before it is killed
_STOPS = {signal.SIGINT, signal.SIGTERM}
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# whether the forking process is inside a recipe's main (set by install_fork_hooks)
_in_recipe = None


def install_fork_hooks(in_recipe):
    """Register the fork hooks once per process; they act only while ``in_recipe()``."""
    global _in_recipe
    if _in_recipe is None:
        os.register_at_fork(
            before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
        )
    _in_recipe = in_recipe


# Processes a recipe forks (multiprocessing.Pool workers, ours and subword-nmt's). The two
# signals are blocked across fork, so none lands between fork and the child's set-up.
def _before_fork():
    if _in_recipe():
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)


def _after_fork_in_parent():
    if _in_recipe():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


def _after_fork_in_child():
    """SIGTERM ends a worker at once, as Pool.terminate() expects (raising, a worker holding a queue
    lock never exits); Ctrl-C, which reaches the whole terminal group, is left to the recipe, which
    stops its pools (``_in_child`` restores it for the programs it starts); and a worker dies with
    its recipe."""
    if _in_recipe():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        die_with_parent()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


def _in_child() -> None:  # runs in the child, between fork and exec
    # an ignored SIGINT would survive exec (the fork hooks ignore it in forked workers)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    die_with_parent()


def stop(proc: subprocess.Popen, grace: float = GRACE_SECONDS) -> None:
    """Terminate ``proc``'s process group, then kill it if it is still there after ``grace``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(grace)


def spawn(command: Sequence[str], **popen_kwargs) -> subprocess.Popen:
    """``subprocess.Popen`` in its own process group, dying with the recipe; whoever spawns it calls
    ``stop`` on the way out (``started`` does that for one child)."""
    return subprocess.Popen(list(command), start_new_session=True, preexec_fn=_in_child, **popen_kwargs)


@contextlib.contextmanager
def started(command: Sequence[str], **popen_kwargs) -> Iterator[subprocess.Popen]:
    """``spawn(command, **popen_kwargs)``, stopped if the block does not end normally."""
    proc = spawn(command, **popen_kwargs)
    try:
        yield proc
        proc.wait()
    except BaseException:
        stop(proc)
        raise
    finally:
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def run(command: Sequence[str], **popen_kwargs) -> int:
    with started(command, **popen_kwargs) as proc:
        return proc.wait()
