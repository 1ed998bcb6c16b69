"""How every recipe ends: ``exits_cleanly`` wraps each ``main``. A RecipeError, or an OSError about
a path the user chose, becomes one line ``<prog>: error: <message>`` and status 2 (argparse's), not a
traceback. Ctrl-C and ``kill`` (SIGTERM, as its subclass ``Terminated``) both arrive as a
KeyboardInterrupt, so one cleanup path runs for both; they end in ``<prog>: interrupted`` and status
130 or 143 (128 + the signal)."""

import errno
import functools
import signal
import sys
import threading

from rdrop_recipes.process.children import install_fork_hooks
from rdrop_recipes.process.errors import RecipeError

EXIT_USAGE = 2
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)
PATH_ERRNOS = (errno.EEXIST, errno.ENOTDIR, errno.EISDIR, errno.EACCES, errno.EPERM, errno.EROFS)
PATH_ERRNOS += (errno.ENAMETOOLONG,) + DISK_FULL
EXIT_INTERRUPTED = 128 + signal.SIGINT
EXIT_TERMINATED = 128 + signal.SIGTERM


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the recipe is, so it unwinds like Ctrl-C."""


def _raise_terminated(signum, frame):
    raise Terminated()


def exits_cleanly(prog, interrupted_hint=""):
    """Decorate ``main(argv)``: it returns its status instead of raising."""

    def wrap(main):
        @functools.wraps(main)
        def wrapper(argv=None):
            install_fork_hooks(lambda: signal.getsignal(signal.SIGTERM) is _raise_terminated)
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
                # a file where a folder must be, no permission, a full disk
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
