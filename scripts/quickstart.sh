#!/usr/bin/env bash
# A short R-Drop training + BLEU on a synthetic corpus, CPU, a few minutes.
set -euo pipefail
exec python -m rdrop_recipes.quickstart "$@"
