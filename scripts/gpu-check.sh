#!/usr/bin/env bash
# The one command for a GPU machine's few minutes (issue 22). On a bare machine (its own
# Python 3.12 and CUDA torch, no network) with the folder scripts/gpu-prefetch.sh filled on a
# CPU machine, within about 9 minutes:
#   1. install   fairseq-fixed (built against the machine's torch, as scripts/install.sh does)
#                and the project's dependencies, from the pre-fetched files only;
#   2. gpu-tests pytest -m gpu: the CUDA cases of the device-parametrized tests;
#   3. train-*   a short real-data comparison on the prepared data: baseline and R-Drop, the
#                same number of updates each (side by side while the tests run);
#      evaluate-* beam search BLEU of each on the test set;
#   4. bench-*   benchmarks/bench_updates.py, fp16 and bf16, transformer_iwslt_de_en and the
#                WMT big transformer: R-Drop vs its doubled batch, fairseq's built-in R-Drop and
#                the official formula side by side, update time and peak CUDA memory (last
#                and alone, so nothing else runs on the GPU while it times).
# It writes OUT/REPORT.md and one log per step group (install, tests, compare, bench): few
# files, so a results folder that allows a handful comes back whole. A step that fails or
# runs out of its time is recorded as such, and the next step runs.
#
#   scripts/gpu-check.sh [--device cuda|cpu] [--tiny] [--out DIR] [--prefetch DIR] [--data DIR]
#                        [--budget SECONDS]
#
# --device cpu --tiny is the rehearsal (tests/end_to_end/test_gpu_check.py runs it): every step
# on the CPU with tiny sizes, fp32 (fairseq's --fp16/--bf16 trainer needs CUDA).
set -uo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)

device=cuda
tiny=0
out=""
prefetch=gpu-prefetch
data=""
budget=""
usage="usage: scripts/gpu-check.sh [--device cuda|cpu] [--tiny] [--out DIR] [--prefetch DIR] [--data DIR] [--budget SECONDS]"
while [ $# -gt 0 ]; do
    case "$1" in
        --device) device=${2:?--device needs cuda or cpu}; shift 2 ;;
        --tiny) tiny=1; shift ;;
        --out) out=${2:?--out needs a folder}; shift 2 ;;
        --prefetch) prefetch=${2:?--prefetch needs a folder}; shift 2 ;;
        --data) data=${2:?--data needs a folder}; shift 2 ;;
        --budget) budget=${2:?--budget needs seconds}; shift 2 ;;
        -h|--help) echo "$usage"; exit 0 ;;
        *) echo "gpu-check.sh: error: unknown argument $1" >&2; echo "$usage" >&2; exit 2 ;;
    esac
done
case "$device" in cuda|cpu) ;; *) echo "gpu-check.sh: error: --device is cuda or cpu, not $device" >&2; exit 2 ;; esac
out=${out:-results/gpu-check-$(date +%Y%m%d-%H%M%S)}
data=${data:-$prefetch/data-bin/multi30k.de-en}
# the whole run, so a device call of 10 minutes keeps a margin for start-up and transfers
budget=${budget:-$([ "$tiny" = 1 ] && echo 300 || echo 540)}
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
export PYTHONUNBUFFERED=1 PYTHONWARNINGS=ignore
if ! command -v python >/dev/null; then
    # some images name their (virtual-environment) interpreter python3 only: a wrapper, not a
    # symbolic link, so the interpreter still finds its environment
    mkdir -p "$work/bin"
    printf '#!/bin/sh\nexec %s "$@"\n' "$(command -v python3)" >"$work/bin/python"
    chmod +x "$work/bin/python"
    export PATH="$work/bin:$PATH"
fi
start=$SECONDS
deadline=$((start + budget))
rows=()
sections=()

# step NAME LOG CAP COMMAND...: runs COMMAND with its output appended to OUT/LOG, for at most
# CAP seconds and never past the deadline; records the row of the report's table.
step() {
    local name=$1 log=$2 cap=$3
    shift 3
    local left=$((deadline - SECONDS)) rc=0 t0=$SECONDS status
    if [ "$left" -lt 15 ]; then
        rows+=("| $name | skipped: the ${budget} s budget is spent | 0 | $log |")
        return 0
    fi
    local limit=$((cap < left ? cap : left))
    printf '\n### %s (at most %s s)\n$ %s\n' "$name" "$limit" "$*" >>"$out/$log"
    timeout --kill-after=15 "$limit" "$@" >>"$out/$log" 2>&1 || rc=$?
    case $rc in
        0) status=ok ;;
        124 | 137) status="TIMED OUT after ${limit} s" ;;
        *) status="FAILED (exit $rc)" ;;
    esac
    rows+=("| $name | $status | $((SECONDS - t0)) | $log |")
    echo "gpu-check: $name: $status ($((SECONDS - t0)) s)"
    [ $rc = 0 ]
}

skip() { # skip NAME LOG REASON
    rows+=("| $1 | skipped: $3 | 0 | $2 |")
    printf '\n### %s\nskipped: %s\n' "$1" "$3" >>"$out/$2"
    echo "gpu-check: $1: skipped: $3"
}

# ---- 1. install -------------------------------------------------------------------------
install_offline() {
    local links=$prefetch/wheels before after
    before=$(python -c "import torch; print(torch.__version__)") || return 1
    echo "torch ${before} is kept; installing from ${links} only"
    python -m pip install --no-index --find-links "$links" --no-build-isolation -r scripts/gpu-requirements.txt &&
        MAX_JOBS=$(getconf _NPROCESSORS_ONLN) env -u CUDA_HOME python -m pip install --no-index --find-links "$links" \
            --no-build-isolation "fairseq-fixed==0.12.3.1" &&
        python -m pip install --no-index --find-links "$links" --no-build-isolation -e . || return 1
    after=$(python -c "import torch; print(torch.__version__)")
    [ "$after" = "$before" ] || { echo "torch changed from ${before} to ${after}"; return 1; }
    python -c "import fairseq, rdrop_fairseq, sacremoses, pytest; print('fairseq', fairseq.__version__)"
}
export -f install_offline
export prefetch

if version=$(python -c "import fairseq; print(fairseq.__version__)" 2>/dev/null); then
    skip install install.log "fairseq ${version} already importable, nothing installed"
elif [ ! -d "$prefetch/wheels" ]; then
    rows+=("| install | FAILED: no $prefetch/wheels (run scripts/gpu-prefetch.sh on a CPU machine first) | 0 | install.log |")
else
    step install install.log 300 bash -c install_offline
fi

# ---- 2 and 3. the GPU tests, with the comparison's training beside them -------------------
if [ "$tiny" = 1 ]; then
    updates=10
    model=(--set encoder_layers=1 --set decoder_layers=1 --set encoder_embed_dim=32 --set decoder_embed_dim=32
        --set encoder_ffn_embed_dim=64 --set decoder_ffn_embed_dim=64 --set encoder_attention_heads=2
        --set decoder_attention_heads=2 --set validate_interval_updates=5 --set save_interval_updates=5
        --set log_interval=5)
    eval_sets=(--set beam=1)
else
    # Multi30k's small transformer (configs/train-multi30k.toml) with a GPU's batch: ~8 epochs
    updates=800
    model=(--set max_tokens=4096 --set validate_interval_updates=250 --set save_interval_updates=250
        --set log_interval=100)
    eval_sets=()
fi
pair=$(ls "$data" 2>/dev/null | sed -n 's/^train\.\([^.]*\)-\([^.]*\)\.\1\.idx$/\1 \2/p' | head -1)
read -r src tgt <<<"$pair"
train_limit=$(((deadline - SECONDS) / 2))
train_limit=$((train_limit < 240 ? train_limit : 240))
train_one() { # train_one VARIANT: the recipe's variant, its log and exit status in the work folder
    timeout --kill-after=15 "$train_limit" python -m rdrop_recipes.train --config configs/train-multi30k.toml --variant "$1" --data "$data" \
        --save-dir "$work/$1" --device "$device" --set max_update="$updates" --set source_lang="$src" \
        --set target_lang="$tgt" "${model[@]}" >"$work/train-$1.log" 2>&1
    echo $? >"$work/train-$1.rc"
    echo $((SECONDS - t0)) >"$work/train-$1.seconds"
}
t0=$SECONDS
if [ -z "$pair" ]; then
    echo "no train.SRC-TGT.SRC.idx in $data (run scripts/gpu-prefetch.sh, or pass --data)" >"$work/train-none.log"
else
    train_one baseline &
    baseline_pid=$!
    train_one rdrop &
    rdrop_pid=$!
fi

if [ "$tiny" = 1 ]; then
    step gpu-tests tests.log 240 python -m pytest -q -p no:cacheprovider -m gpu -rs
else
    step gpu-tests tests.log 240 python -m pytest -q -p no:cacheprovider -m gpu -rs -x --timeout 200
fi
tests_line=$(grep -E "[0-9]+ (passed|skipped|failed|error)" "$out/tests.log" | tail -1)

bleu_rows=()
if [ -z "$pair" ]; then
    rows+=("| train-baseline, train-rdrop | FAILED: no binarized data in $data | 0 | compare.log |")
    cat "$work/train-none.log" >>"$out/compare.log"
else
    wait "$baseline_pid" "$rdrop_pid" # started before the tests, each with its own time limit
    for variant in baseline rdrop; do
        printf '\n### train-%s\n' "$variant" >>"$out/compare.log"
        cat "$work/train-$variant.log" >>"$out/compare.log"
        rc=$(cat "$work/train-$variant.rc")
        case $rc in
            0) status=ok ;;
            124 | 137) status="TIMED OUT after ${train_limit} s" ;;
            *) status="FAILED (exit $rc)" ;;
        esac
        rows+=("| train-$variant | $status | $(cat "$work/train-$variant.seconds") | compare.log |")
        if [ "$rc" = 0 ] && step "evaluate-$variant" compare.log 150 python -m rdrop_recipes.evaluate \
            --config configs/evaluate-multi30k.toml --data "$data" --checkpoint "$work/$variant/checkpoint_best.pt" \
            --results-dir "$work/results" --name "$variant" --device "$device" --set source_lang="$src" \
            --set target_lang="$tgt" "${eval_sets[@]}"; then
            bleu=$(python -c "import json,glob,sys; print(json.load(open(sorted(glob.glob(sys.argv[1]))[-1]))['bleu']['text'])" \
                "$work/results/$variant-*/scores.json")
            bleu_rows+=("| $variant | $updates | $bleu |")
        else
            bleu_rows+=("| $variant | $updates | n/a (see compare.log) |")
        fi
    done
fi

# ---- 4. update cost and peak memory -------------------------------------------------------
bench_sections=()
if [ "$device" = cpu ]; then
    # fairseq's half-precision trainer needs CUDA: the rehearsal times fp32 on a tiny model
    runs=("$([ "$tiny" = 1 ] && echo tiny || echo cpu-small) fp32")
else
    runs=("iwslt fp16" "iwslt bf16" "wmt-big fp16" "wmt-big bf16")
fi
for run in "${runs[@]}"; do
    read -r preset dtype extra <<<"$run"
    # shellcheck disable=SC2086  # extra holds several flags
    step "bench-$preset-$dtype" bench.log 150 python benchmarks/bench_updates.py --device "$device" \
        --dtype "$dtype" --preset "$preset" --no-variants --memory-jobs 5 \
        $([ "$device" = cuda ] && echo --rounds 10 --warmup 3) \
        $([ "$tiny" = 1 ] && echo --rounds 1 --warmup 0 --mem-updates 1 --configs rdrop@T \
            fairseq-builtin@T official@T) $extra
    # the tables this run printed (stdout lines starting with '|' or '#', after its header)
    table=$(awk -v name="bench-$preset-$dtype" '
        /^### / { inside = ($2 == name) }
        inside && (/^\|/ || /^# / || /^$/) { print }' "$out/bench.log" | cat -s)
    bench_sections+=("### $preset, $dtype"$'\n'"${table:-no table: see bench.log}")
done

# ---- the report ---------------------------------------------------------------------------
machine=$(python -c "
import platform, torch
cuda = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'no CUDA device'
print(f'{cuda}; Python {platform.python_version()}, torch {torch.__version__} (CUDA {torch.version.cuda})')" 2>&1 | tail -1)
{
    echo "# GPU check: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo
    echo "- command: \`scripts/gpu-check.sh --device $device$([ "$tiny" = 1 ] && echo ' --tiny')\` (budget ${budget} s, took $((SECONDS - start)) s)"
    echo "- machine: $machine, $(getconf _NPROCESSORS_ONLN) cores"
    echo "- data: $data"
    echo
    echo "## Steps"
    echo
    echo "| step | status | seconds | log |"
    echo "|---|---|---|---|"
    printf '%s\n' "${rows[@]}"
    echo
    echo "gpu tests: ${tests_line:-no pytest summary (see tests.log)}"
    echo
    echo "## Short real-data comparison (same updates each; BLEU on the test set)"
    echo
    echo "| variant | updates | BLEU |"
    echo "|---|---|---|"
    printf '%s\n' "${bleu_rows[@]}"
    echo
    echo "## Update time and peak memory: R-Drop against its doubled batch (benchmarks/bench_updates.py)"
    echo
    printf '%s\n\n' "${bench_sections[@]}"
} >"$out/REPORT.md"
rm -rf "$work"
echo "gpu-check: report in $out/REPORT.md"
