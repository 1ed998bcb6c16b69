"""The recipes behind ``scripts/``, each a ``python -m rdrop_recipes.<name>`` entry point. They reach
the plugin (``rdrop_fairseq``) only through the fairseq command line and the plugin folder's path
(:mod:`rdrop_recipes.fairseq_io.plugin_dir`), never by importing it or fairseq for text work."""
