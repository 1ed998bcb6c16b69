"""Command-line plumbing shared by the recipes' entry points."""

import sys


def parse_with_passthrough(parser, argv):
    """``parser``'s arguments; what follows ``--`` is kept verbatim in ``args.extra``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    cut = argv.index("--") if "--" in argv else len(argv)
    args = parser.parse_args(argv[:cut])
    args.extra = argv[cut + 1 :]
    return args


def passed_value(extra, flag, default):
    """The value fairseq gets for ``flag`` from the flags after '--' (the last wins), else ``default``."""
    value = default
    for i, arg in enumerate(extra):
        if arg == flag and i + 1 < len(extra):
            value = extra[i + 1]
        elif arg.startswith(flag + "="):
            value = arg.partition("=")[2]
    return value
