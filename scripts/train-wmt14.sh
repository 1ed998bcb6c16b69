#!/usr/bin/env bash
# WMT14 En->De, Transformer big with R-Drop on all GPUs of the node, or several
# nodes with --nnodes N --node-rank R --master-addr HOST (configs/train-wmt14.toml).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
exec python -m rdrop_recipes.train --config "${RDROP_TRAIN_CONFIG:-$here/../configs/train-wmt14.toml}" "$@"
