#!/usr/bin/env bash
# Training curves of one or more runs side by side.
# Usage: scripts/plot-curves.sh LOG|SAVE_DIR [...] --out curves.png [--labels a,b] [--title T]
set -euo pipefail
exec python -m rdrop_recipes.curves "$@"
