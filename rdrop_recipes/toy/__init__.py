"""The toy translation task: a synthetic corpus a tiny transformer learns on a CPU in a
few hundred updates, its training and decoding settings, and the quickstart built on them."""
