#!/usr/bin/env bash
# IWSLT14 de-en for fairseq; --help in rdrop_recipes/prepare_iwslt14.py
set -euo pipefail
exec python -m rdrop_recipes.prepare_iwslt14 "$@"
