"""Every name the recipes write beside their outputs to say what a folder holds
and how far it got: one vocabulary, read and written only through these names.

* ``TMP_SUFFIX``: a file or folder being written (``name.tmp``); renamed into
  place only when complete (``folders.atomic_files``).
* ``PARTIAL_SUFFIX``: a results folder being written (``.<name>-<stamp>.partial``);
  renamed to ``<name>-<stamp>`` once complete (``folders.results_dirs``).
* ``SCORES``: a results folder's scores, its last file: a folder holding it is a finished run.
* ``STAGE_DONE_SUFFIX``: ``<state dir>/<stage>.done``, a preparation stage that finished
  (``folders.stages``).
* ``PREPARE_STATE_DIR`` and ``PREPARE_CONFIG``: a prepared data folder's stage markers and
  the config that made it (``folders.prepared_dirs``).
* ``RUN_CONFIG``: the settings a save dir's checkpoints were trained with
  (``folders.run_dirs``).
* ``COMPARISON_SPEC`` and ``TRAINED``: a comparison's settings, and a run of it whose
  training exited cleanly; ``COMPARISON_LOCK``: held while a comparison runs (``comparison``).
* ``QUICKSTART_MARKER``: a folder the quickstart made, so a rerun may replace its outputs.
"""

TMP_SUFFIX = ".tmp"
PARTIAL_SUFFIX = ".partial"
SCORES = "scores.json"
STAGE_DONE_SUFFIX = ".done"
PREPARE_STATE_DIR = ".prepare"
PREPARE_CONFIG = "prepare-config.json"
RUN_CONFIG = "run-config.json"
COMPARISON_SPEC = "spec.json"
TRAINED = "trained.json"
COMPARISON_LOCK = ".lock"
QUICKSTART_MARKER = ".rdrop-quickstart"
