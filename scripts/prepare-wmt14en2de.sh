#!/usr/bin/env bash
# WMT14 en-de for fairseq; --help in rdrop_recipes/prepare_wmt14.py
set -euo pipefail
exec python -m rdrop_recipes.prepare_wmt14 "$@"
