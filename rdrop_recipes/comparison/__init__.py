"""A comparison: variants x seeds of one train recipe on one corpus, each run trained
and evaluated by the repository's own recipes (``plan``: which runs and their commands;
``run_state``: where a run stands; ``consoles``: the console each run's children append
to; ``execution``: N runs at a time; ``summary``: the table and its significance tests)."""
