"""Where the plugin lives, for ``--user-dir``: ``find_spec`` locates it without running its
``__init__``, which would import fairseq and install the plugin's hooks just to learn a path."""

import importlib.util
import os


def plugin_dir() -> str:
    spec = importlib.util.find_spec("rdrop_fairseq")
    if spec is None or not spec.submodule_search_locations:
        raise RuntimeError("rdrop_fairseq is not installed; run scripts/install.sh")
    return os.path.abspath(list(spec.submodule_search_locations)[0])


PLUGIN_DIR = plugin_dir()
