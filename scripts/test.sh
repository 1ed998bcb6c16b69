#!/usr/bin/env bash
# The test command: style first (ruff, configured in pyproject.toml), then the
# test suite. The README's second command and .ci/run both run exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m ruff format --check .
python -m ruff check .
python -m pytest -q "$@"
