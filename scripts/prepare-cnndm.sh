#!/usr/bin/env bash
# CNN/DailyMail for BART fine-tuning (fairseq's layout); --help in rdrop_recipes/prepare_cnndm.py
set -euo pipefail
exec python -m rdrop_recipes.prepare_cnndm "$@"
