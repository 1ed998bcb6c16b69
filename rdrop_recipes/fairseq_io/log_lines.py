"""The one reader of what fairseq prints: every pattern the recipes match
against fairseq's console output or log files lives here.

* ``ERROR_LINE``: how fairseq's argparse and the plugin report a usage error,
  one line ``<prog>: error: ...``, which the recipes show as their own.
"""

import re

# how fairseq's argparse and the plugin report a usage error: one line, shown as ours
ERROR_LINE = re.compile(r"^[\w.-]+: error: ")
