#!/usr/bin/env bash
# WikiText-103 (word level) for fairseq language modeling; all logic and --help in
# rdrop_recipes/prepare_wikitext103.py
set -euo pipefail
exec python -m rdrop_recipes.prepare_wikitext103 "$@"
