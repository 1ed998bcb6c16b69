#!/usr/bin/env bash
# Variants x seeds, trained, evaluated and tested for significance; all logic and --help in rdrop_recipes/compare.py
set -euo pipefail
exec python -m rdrop_recipes.compare "$@"
