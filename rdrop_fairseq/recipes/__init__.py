"""Python behind the scripts in ``scripts/``: importable, testable, each with
a ``python -m`` entry point. Nothing here is imported by the plugin itself."""
