#!/usr/bin/env bash
# Fine-tune RoBERTa on one GLUE task, baseline or R-Drop, several seeds (configs/finetune-glue.toml).
# Usage: scripts/finetune-glue.sh TASK [--model roberta.large|roberta.base|PATH] [--variant rdrop|baseline]
#        [--seeds 1,2,3] [--data DIR] [--set key=value ...] [--dry-run] [-- extra fairseq-train flags]
#        SLURM: add --slurm-nodes 1 --gpus-per-node 1 [--slurm-time T] [--submit] (a job array, one task
#        per seed); when it is done: scripts/finetune-glue.sh --collect results/glue-TASK-VARIANT-STAMP
set -euo pipefail
exec python -m rdrop_recipes.finetune_glue "$@"
