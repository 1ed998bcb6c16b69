"""A comparison: variants x seeds of one train recipe, trained and evaluated by the recipes."""
