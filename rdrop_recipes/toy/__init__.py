"""The toy translation task: a synthetic corpus, its fairseq flags, and the quickstart on them."""
