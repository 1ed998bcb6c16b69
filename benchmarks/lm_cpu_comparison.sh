#!/usr/bin/env bash
# A small real-text language-modeling check on the CPU: baseline (fairseq's
# cross_entropy) vs R-Drop (alpha 1), same data, model, seed and 600 updates.
# Text: the English side of Multi30k (lowercased, Moses-tokenized with sacremoses).
#
#   bash benchmarks/lm_cpu_comparison.sh MULTI30K_DIR WORK_DIR
#
# MULTI30K_DIR holds train.en, valid.en, test.en (scripts/prepare-multi30k.sh
# downloads them); WORK_DIR receives bin/, ckpt-*/ and {baseline,rdrop}.{log,eval}.
set -euo pipefail
src=$(cd "$1" && pwd)
work=$2
plugin="$(cd "$(dirname "$0")/../rdrop_fairseq" && pwd)"
mkdir -p "$work" && cd "$work"
if [ ! -d bin ]; then
    python - "$src" <<'PY'
import sys
from sacremoses import MosesTokenizer
tok = MosesTokenizer(lang="en")
for split in ("train", "valid", "test"):
    with open(f"{sys.argv[1]}/{split}.en") as f, open(f"{split}.tok", "w") as out:
        for line in f:
            out.write(tok.tokenize(line.strip().lower(), escape=False, return_str=True) + "\n")
PY
    fairseq-preprocess --only-source --trainpref train.tok --validpref valid.tok --testpref test.tok \
        --destdir bin --workers 2 --thresholdsrc 2
fi
common=(bin --user-dir "$plugin" --arch transformer_lm --decoder-layers 2 --decoder-embed-dim 128
    --decoder-ffn-embed-dim 512 --decoder-attention-heads 4 --share-decoder-input-output-embed --dropout 0.3
    --tokens-per-sample 64 --sample-break-mode none --max-tokens 2048 --optimizer adam --adam-betas "(0.9,0.98)"
    --lr 2e-3 --lr-scheduler inverse_sqrt --warmup-updates 100 --warmup-init-lr 1e-7 --weight-decay 0.01
    --max-update 600 --validate-interval-updates 200 --log-format simple --log-interval 100
    --no-epoch-checkpoints --cpu --seed 1)
for variant in baseline rdrop; do
    [ -f "$variant.done" ] && continue
    if [ "$variant" = baseline ]; then
        extra=(--task language_modeling --criterion cross_entropy)
    else
        extra=(--task rdrop_language_modeling --criterion reg_label_smoothed_cross_entropy --reg-alpha 1.0)
    fi
    fairseq-train "${common[@]}" "${extra[@]}" --save-dir "ckpt-$variant" > "$variant.log" 2>&1
    fairseq-eval-lm bin --user-dir "$plugin" --task rdrop_language_modeling --path "ckpt-$variant/checkpoint_best.pt" \
        --gen-subset test --max-tokens 2048 --tokens-per-sample 64 --cpu > "$variant.eval" 2>&1
    touch "$variant.done"
done
grep -h "best_loss" baseline.log rdrop.log | tail -n 2
grep -h "Perplexity" baseline.eval rdrop.eval
