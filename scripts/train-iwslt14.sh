#!/usr/bin/env bash
# IWSLT14 De->En, the R-Drop paper's recipe on one GPU (configs/train-iwslt14.toml).
# Usage: scripts/train-iwslt14.sh [--variant rdrop|baseline|doubled-batch|no-kl] [--data DIR]
#        [--save-dir DIR] [--set key=value ...] [--dry-run] [-- extra fairseq-train flags]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python -m rdrop_recipes.train --config "${RDROP_TRAIN_CONFIG:-$here/../configs/train-iwslt14.toml}" "$@"
