#!/usr/bin/env bash
# Fills the folder scripts/gpu-check.sh installs and trains from on a GPU machine that has no
# network (issue 22). Run it on a CPU machine that reaches PyPI, in this checkout:
#
#   scripts/gpu-prefetch.sh [DIR] [--from-dir RAW]     (DIR default gpu-prefetch/, git-ignored)
#
# DIR/wheels/   fairseq-fixed's sdist (built on the GPU machine against its own torch) and the
#               Python 3.12 manylinux x86-64 wheels (sdists for the few without one) of every
#               package in scripts/gpu-requirements.txt: the dependencies a CUDA torch image
#               lacks, each without its own (those are on the image; see that file)
# DIR/data-bin/multi30k.de-en/
#               Multi30k task 1 de-en prepared by scripts/prepare-multi30k.sh (Moses, lowercased,
#               joint BPE, binarized), for the GPU check's short baseline / R-Drop comparison;
#               the raw release is read from --from-dir (default ../shared/data/multi30k when
#               present), else downloaded by the recipe
# DIR/MANIFEST.md what is there and its size.
# The folder travels to the GPU machine with the working tree, which may hold 64 MiB in all:
# name it in the device call's carry list (it is git-ignored).
set -euo pipefail
cd "$(dirname "$0")/.."

dir=gpu-prefetch
raw=""
while [ $# -gt 0 ]; do
    case "$1" in
        --from-dir) raw=${2:?--from-dir needs a folder}; shift 2 ;;
        -h|--help) sed -n '2,20p' "$0"; exit 0 ;;
        -*) echo "gpu-prefetch.sh: error: unknown option $1" >&2; exit 2 ;;
        *) dir=$1; shift ;;
    esac
done
if [ -z "$raw" ] && [ -d ../shared/data/multi30k ]; then raw=../shared/data/multi30k; fi
mkdir -p "$dir/wheels"

echo "==> wheels and sdists for Python 3.12 (manylinux x86-64) into $dir/wheels"
# --no-deps: exactly the list (their own dependencies are on the image); --no-build-isolation:
# the sdists' metadata is read with this environment's setuptools, cython, numpy and torch
python -m pip download --quiet --dest "$dir/wheels" --no-deps --no-build-isolation \
    --only-binary=:all: --no-binary fairseq-fixed,antlr4-python3-runtime,rouge-score \
    --python-version 3.12 --implementation cp --abi cp312 --platform manylinux2014_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
    -r scripts/gpu-requirements.txt "fairseq-fixed==0.12.3.1"

data="$dir/data-bin/multi30k.de-en"
echo "==> Multi30k de-en, prepared and binarized, into $data"
work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-prefetch.XXXXXX")
trap 'rm -rf "$work"' EXIT
scripts/prepare-multi30k.sh --out-dir "$work/text" --data-bin "$data" ${raw:+--from-dir "$raw"}

{
    echo "# $dir: what scripts/gpu-check.sh needs on a GPU machine without network"
    echo
    echo "Made by \`scripts/gpu-prefetch.sh\` on $(date -u +%Y-%m-%d) with $(python -m pip --version | cut -d' ' -f1-2)."
    echo
    echo "| file | KiB |"
    echo "|---|---|"
    (cd "$dir" && find wheels data-bin -type f ! -name MANIFEST.md | sort | while read -r f; do
        echo "| $f | $(($(stat -c %s "$f") / 1024)) |"
    done)
    echo
    echo "Total: $(du -sm "$dir" | cut -f1) MiB."
} >"$dir/MANIFEST.md"
total=$(du -sm "$dir" | cut -f1)
echo "==> $dir holds ${total} MiB (the working tree that travels may hold 64 MiB in all); see $dir/MANIFEST.md"
if [ "$total" -gt 40 ]; then
    echo "gpu-prefetch.sh: warning: ${total} MiB leaves little room for the rest of the working tree" >&2
fi
