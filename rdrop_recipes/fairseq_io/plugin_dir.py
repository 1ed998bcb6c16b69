"""Where the plugin lives, for ``--user-dir``: ``find_spec`` locates it without running its
``__init__``, which would import fairseq and install the plugin's hooks just to learn a path."""

import importlib.util
import os

_SPEC = importlib.util.find_spec("rdrop_fairseq")
if _SPEC is None or not _SPEC.submodule_search_locations:
    raise RuntimeError("rdrop_fairseq is not installed; run scripts/install.sh")
PLUGIN_DIR = os.path.abspath(list(_SPEC.submodule_search_locations)[0])
