#!/usr/bin/env bash
# Fine-tune RoBERTa on one GLUE task, baseline or R-Drop, several seeds (configs/finetune-glue.toml).
# Usage: scripts/finetune-glue.sh TASK [--model roberta.large|roberta.base|PATH] [--variant rdrop|baseline]
#        [--seeds 1,2,3] [--data DIR] [--set key=value ...] [--dry-run] [-- extra fairseq-train flags]
set -euo pipefail
exec python -m rdrop_recipes.finetune_glue "$@"
