#!/usr/bin/env bash
# Language-model perplexity (valid and test) with fairseq-eval-lm into a fresh
# results/<name>-<timestamp>/ folder; --help in rdrop_recipes/evaluate_lm.py.
# Usage: scripts/evaluate-lm.sh [--adaptive | --config FILE] [--checkpoint PATH|GLOB|DIR ...]
#        [--data DIR] [--subsets valid,test] [--name NAME] [--set key=value ...] [--cpu]
#        [-- fairseq-eval-lm flags]
# Default config: configs/evaluate-wikitext103.toml (transformer_lm_gpt);
# --adaptive: configs/evaluate-wikitext103-adaptive.toml (transformer_lm_wiki103).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config=(--config "$here/../configs/evaluate-wikitext103.toml")
args=()
while (($#)); do
  case "$1" in
    --adaptive) config=(--config "$here/../configs/evaluate-wikitext103-adaptive.toml") ;;
    --config|--config=*) config=() ; args+=("$1") ;;
    --) args+=("$@"); break ;;
    *) args+=("$1") ;;
  esac
  shift
done
exec python -m rdrop_recipes.evaluate_lm "${config[@]}" "${args[@]}"
