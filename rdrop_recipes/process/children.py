"""Child processes die with their parent: each runs in its own process group, which whatever ends
the recipe (Ctrl-C, ``kill``, an error, on Linux even SIGKILL) terminates with its workers, so no
fairseq-preprocess keeps writing into a folder that a re-run will use."""

import contextlib
import os
import signal
import subprocess
from typing import Iterator, Sequence

from rdrop_recipes.process.fork_hooks import die_with_parent

GRACE_SECONDS = 10  # for a child to exit on SIGTERM before it is killed


def _in_child() -> None:  # runs in the child, between fork and exec
    # an ignored SIGINT would survive exec (fork_hooks ignores it in forked workers)
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
    """Run ``command`` to its end; its exit status."""
    with started(command, **popen_kwargs) as proc:
        return proc.wait()
