#!/usr/bin/env bash
# Multi30k task 1 de-en for fairseq; --help in rdrop_recipes/prepare_multi30k.py
set -euo pipefail
exec python -m rdrop_recipes.prepare_multi30k "$@"
