"""The one exception type for a configuration a user must change.

The plugin's ``__init__`` installs an excepthook that prints these as a
single ``rdrop_fairseq: error: ...`` line (the fix included) instead of a
traceback through fairseq's builders, and exit status 2.
"""

import sys


class RDropConfigError(ValueError):
    pass


def install_excepthook() -> None:
    previous = sys.excepthook
    if getattr(previous, "_rdrop_fairseq", False):
        return

    def hook(exc_type, exc, tb):
        if issubclass(exc_type, RDropConfigError):
            print(f"rdrop_fairseq: error: {exc}", file=sys.stderr)
            # a usage error, as argparse's: status 2 (Python's default here is 1)
            sys.exit(2)
        previous(exc_type, exc, tb)

    hook._rdrop_fairseq = True
    sys.excepthook = hook
