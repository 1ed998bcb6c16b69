"""What a recipe's forked workers inherit: signal masks across fork, and a
child that dies with its parent. Installed by ``process.exit.exits_cleanly``
when a recipe's main starts, not on import."""

import contextlib
import ctypes
import os
import signal
import sys

_STOPS = {signal.SIGINT, signal.SIGTERM}
_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """Linux: this process gets SIGTERM when its parent dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(Exception):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


# whether the forking process is inside a recipe's main (set by install)
_in_recipe = None


def install(in_recipe):
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
    stops its pools (children.py restores it for the programs it starts); and a worker dies with
    its recipe."""
    if _in_recipe():
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        die_with_parent()
        signal.pthread_sigmask(signal.SIG_UNBLOCK, _STOPS)
