#!/usr/bin/env bash
# Variants x seeds, trained, evaluated and tested for significance; --help in rdrop_recipes/compare.py,
# the logic in rdrop_recipes/comparison/
set -euo pipefail
exec python -m rdrop_recipes.compare "$@"
