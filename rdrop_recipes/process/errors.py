"""The errors a user fixes. Raised anywhere in the recipes, shown by
``process.exit.exits_cleanly`` as one line, ``<prog>: error: <message>``, exit 2."""


class RecipeError(Exception):
    pass


class PrepareError(RecipeError):
    """A problem in data preparation: missing or corrupt input, a conflicting output dir."""
