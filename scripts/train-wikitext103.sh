#!/usr/bin/env bash
# WikiText-103 language modeling with R-Drop (configs/train-wikitext103.toml:
# transformer_lm_gpt; with --adaptive configs/train-wikitext103-adaptive.toml:
# transformer_lm_wiki103, adaptive input + adaptive softmax).
# Usage: scripts/train-wikitext103.sh [--adaptive] [--variant rdrop|baseline] [--data DIR]
#        [--save-dir DIR] [--cpu] [--reg-alpha A ...] [--set key=value ...] [--dry-run]
#        [-- extra fairseq-train flags]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config="$here/../configs/train-wikitext103.toml"
args=()
while (($#)); do
  case "$1" in
    --adaptive) config="$here/../configs/train-wikitext103-adaptive.toml" ;;
    --) args+=("$@"); break ;;  # fairseq's flags, passed on untouched
    *) args+=("$1") ;;
  esac
  shift
done
exec python -m rdrop_recipes.train --config "${RDROP_TRAIN_CONFIG:-$config}" "${args[@]}"
