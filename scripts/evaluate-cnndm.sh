#!/usr/bin/env bash
# Summaries with BART's inference settings and ROUGE-1/2/L into results/; --help in rdrop_recipes/evaluate_cnndm.py
set -euo pipefail
exec python -m rdrop_recipes.evaluate_cnndm "$@"
