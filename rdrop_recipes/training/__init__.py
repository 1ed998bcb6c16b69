"""The training plan: from a recipe config to the fairseq-train command, and its run."""
