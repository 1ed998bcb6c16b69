"""The recipes behind ``scripts/``: prepare data, train, evaluate, average,
plot, quickstart. Each module has a ``python -m rdrop_recipes.<name>`` entry
point. Nothing here imports the plugin (``rdrop_fairseq``) or fairseq's Python
modules for text work: the plugin is reached through the fairseq command line
and the plugin folder's path (:mod:`rdrop_recipes.plugin_dir`)."""
