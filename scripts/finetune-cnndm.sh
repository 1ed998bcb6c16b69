#!/usr/bin/env bash
# Fine-tune BART on CNN/DailyMail with R-Drop (configs/finetune-cnndm.toml), then ROUGE on the test set.
# Usage: scripts/finetune-cnndm.sh [--model bart.large|bart.base|PATH] [--variant rdrop|baseline] [--data DIR]
#        [--set key=value ...] [--no-eval] [--dry-run] [-- extra fairseq-train flags]
set -euo pipefail
exec python -m rdrop_recipes.finetune_cnndm "$@"
