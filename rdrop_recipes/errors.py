"""How every recipe ends: the one exit mechanism of ``rdrop_recipes``.

Each recipe's ``main`` is wrapped with :func:`exits_cleanly`, which returns the
exit status (``sys.exit(main())`` in ``__main__``):

* a :class:`RecipeError` (the user must change something) becomes one line,
  ``<prog>: error: <message>``, on stderr and status 2 (argparse's status for
  a usage error), so a shell script stops with the fix in front of the user
  instead of a traceback through subprocess and fairseq;
* an OSError about a path the user chose (a file where a folder must be, no
  permission, a full disk) becomes the same kind of line;
* Ctrl-C (SIGINT) and ``kill`` (SIGTERM) both arrive as a KeyboardInterrupt
  (SIGTERM as its subclass :class:`Terminated`), so the one cleanup path that
  removes partial outputs and stops child processes runs for both; they end
  in ``<prog>: interrupted ...`` and status 130 or 143 (128 + the signal).
"""

import contextlib
import ctypes
import errno
import functools
import os
import signal
import sys
import threading

EXIT_USAGE = 2
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
PATH_ERRNOS = (errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS)
PATH_ERRNOS += (errno.ENAMETOOLONG,) + DISK_FULL
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class RecipeError(Exception):
    pass


class PrepareError(RecipeError):
    """A problem in data preparation the user fixes (missing or corrupt input,
    conflicting output dir ...)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the recipe is, so it unwinds like Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated()


_STOPS = {signal.SIGINT, signal.SIGTERM}
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _in_recipe():
    return signal.getsignal(signal.SIGTERM) is _raise_terminated


# Processes a recipe forks (multiprocessing.Pool workers, ours and subword-nmt's). The two
# signals are blocked across fork, so none lands between fork and the child's set-up.
def _before_fork():
    if _in_recipe():
        signal.pthread_sigmask(signal.SIG_BLOCK, _STOPS)


def _after_fork_in_parent():
    if _in_recipe():
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


def _after_fork_in_child():
    """SIGTERM ends a worker at once, as Pool.terminate() expects (raising inside its loop,
    a worker holding a queue lock never exits and the recipe hangs); Ctrl-C, which reaches
    the whole terminal group, is left to the recipe, which stops its pools, instead of every
    worker printing a KeyboardInterrupt traceback (children.py restores it for the programs
    it starts); and a worker whose recipe died before it could stop its pool dies too."""
    if _in_recipe():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        die_with_parent()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)


os.register_at_fork(
    before=_before_fork, after_in_parent=_after_fork_in_parent, after_in_child=_after_fork_in_child
)


def exits_cleanly(prog, interrupted_hint=""):
    """Decorate ``main(argv)``: it returns its status instead of raising."""

    def wrap(main):
        @functools.wraps(main)
        def wrapper(argv=None):
            in_main_thread = threading.current_thread() is threading.main_thread()
            previous = signal.signal(signal.SIGTERM, _raise_terminated) if in_main_thread else None
            try:
                return main(argv) or 0
            except RecipeError as err:
                message = " ".join(str(err).split())  # one line, whatever the caller wrote
                print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
                return EXIT_USAGE
            except OSError as err:
                if err.errno not in PATH_ERRNOS:
                    raise
                # the system refused a path the user chose (a file where a folder must be,
                # no permission, a full disk): the same one line, not a traceback
                fix = "free some space and re-run" if err.errno in DISK_FULL else "choose another path"
                where = f": {err.filename!r}" if err.filename else ""
                print(f"{prog}: error: {err.strerror}{where}; {fix}", file=sys.stderr, flush=True)
                return EXIT_USAGE
            except KeyboardInterrupt as err:
                hint = f"; {interrupted_hint}" if interrupted_hint else ""
                print(f"{prog}: interrupted{hint}", file=sys.stderr, flush=True)
                return EXIT_TERMINATED if isinstance(err, Terminated) else EXIT_INTERRUPTED
            finally:
                if previous is not None:
                    signal.signal(signal.SIGTERM, previous)

        return wrapper

    return wrap
