"""One exception for "the user must change something", printed as one line.

Recipes wrap their ``main`` with :func:`exits_cleanly` (the data-preparation
ones use :func:`report` through ``recipe_cli.run_main``, which returns the
status instead): a RecipeError becomes ``<prog>: error: <message>`` on stderr
and exit status 2 (argparse's status for a usage error), so a shell script
stops with the fix in front of the user instead of a traceback through
subprocess and fairseq.
"""

import functools
import os
import sys

EXIT_USAGE = 2


class RecipeError(Exception):
    pass


class PrepareError(RecipeError):
    """A problem in data preparation the user fixes (missing or corrupt input,
    conflicting output dir ...)."""


def report(prog, err):
    """Print ``err`` as the one-line usage error; return the exit status."""
    message = " ".join(str(err).split())  # one line, whatever the caller wrote
    print(f"{prog}: error: {message}", file=sys.stderr)
    return EXIT_USAGE


def exits_cleanly(prog):
    def wrap(main):
        @functools.wraps(main)
        def wrapper(argv=None):
            try:
                return main(argv)
            except RecipeError as err:
                sys.exit(report(prog, err))

        return wrapper

    return wrap


def require_dir(path, what, fix):
    if not os.path.isdir(path):
        raise RecipeError(f"{what} {path!r} does not exist; {fix}")
