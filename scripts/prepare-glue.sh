#!/usr/bin/env bash
# GLUE for RoBERTa fine-tuning (fairseq's layout); --help in rdrop_recipes/prepare_glue.py
set -euo pipefail
exec python -m rdrop_recipes.prepare_glue "$@"
