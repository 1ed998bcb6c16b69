"""Every name the recipes write beside their outputs to say what a folder holds and how far it
got: one vocabulary, read and written only through these names."""

TMP_SUFFIX = ".tmp"  # a file or folder being written, renamed into place once complete
PARTIAL_SUFFIX = ".partial"  # a results folder being written: .<name>-<stamp>-<pid>.partial
SCORES = "scores.json"  # a results folder's last file: a folder holding it is a finished run
STAGE_DONE_SUFFIX = ".done"  # <state dir>/<stage>.done: a preparation stage that finished
PREPARE_STATE_DIR = ".prepare"  # a prepared data folder's stage markers and config stamp
PREPARE_CONFIG = "prepare-config.json"  # the config that made a prepared folder or data-bin dir
GLUE_JOB = "job.json"  # a finetune-glue SLURM job's settings and seed commands, read by --collect
RUN_CONFIG = "run-config.json"  # the settings a save dir's checkpoints were trained with
COMPARISON_SPEC = "spec.json"  # a comparison's settings
TRAINED = "trained.json"  # a comparison's run whose training exited cleanly
COMPARISON_LOCK = ".lock"  # held while a comparison runs
QUICKSTART_MARKER = ".rdrop-quickstart"  # a folder the quickstart made: a rerun may replace its outputs
