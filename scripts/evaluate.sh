#!/usr/bin/env bash
# Beam search + BLEU into a fresh results/<name>-<timestamp>/ folder.
# Usage: scripts/evaluate.sh [--config configs/evaluate-wmt14.toml] [--checkpoint PATH|GLOB|DIR ...]
#        [--average-last N] [--data DIR] [--name NAME] [--set key=value ...] [-- generate flags]
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
config=()
case " $* " in
  *" --config "*|*" --config="*) ;;
  *) config=(--config "$here/../configs/evaluate-iwslt14.toml") ;;
esac
exec python -m rdrop_recipes.evaluate "${config[@]}" "$@"
