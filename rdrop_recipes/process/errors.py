"""The errors a user fixes. Raised anywhere in the recipes, shown by
``process.exit.exits_cleanly`` as one line, ``<prog>: error: <message>``, exit 2."""


class RecipeError(Exception):
    pass


class PrepareError(RecipeError):
    """A problem in data preparation the user fixes (missing or corrupt input,
    conflicting output dir ...)."""
