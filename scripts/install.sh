#!/usr/bin/env bash
# Installs rdrop_fairseq and fairseq into the active Python, around the torch
# you already have (install the build for your CUDA first). It never lets pip
# replace that torch:
#  - fairseq-fixed is an sdist whose default (isolated) build would download
#    the newest torch just to compile against; --no-build-isolation builds it
#    against yours, with CUDA_HOME unset (its sdist lacks the CUDA sources).
#  - after installing, the torch version is checked against the one before.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! before=$(python -c "import torch; print(torch.__version__)" 2>/dev/null); then
    echo "install.sh: error: no torch in $(command -v python); install it first:" >&2
    echo "  pip install torch==2.13.0      # CPU, or the build for your CUDA from pytorch.org" >&2
    exit 2
fi
echo "==> torch ${before} found; it will be kept"
python -m pip install --quiet "numpy" "cython" "setuptools" "wheel"

if python -c "import fairseq" 2>/dev/null; then
    echo "==> fairseq $(python -c 'import fairseq; print(fairseq.__version__)' 2>/dev/null) already importable; keeping it"
else
    echo "==> building fairseq-fixed 0.12.3.1 against torch ${before} (2-4 minutes)"
    env -u CUDA_HOME python -m pip install --no-build-isolation "fairseq-fixed==0.12.3.1"
fi

echo "==> installing rdrop_fairseq (editable) with the recipes and the test extras"
python -m pip install --quiet -e ".[recipes,test]"

after=$(python -c "import torch; print(torch.__version__)")
if [ "${after}" != "${before}" ]; then
    echo "install.sh: error: torch changed from ${before} to ${after}; reinstall yours and report this" >&2
    exit 1
fi
echo "==> done: torch ${after}, user dir $(python -m rdrop_fairseq.user_dir 2>/dev/null)"
