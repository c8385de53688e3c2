#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install bayes_scaling with the dev extra.
# Finds python3.12 on PATH, else pyenv's 3.12 (whose shim fails when pyenv's global version is older).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=""
for cand in "${PYTHON:-}" python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 /root/.pyenv/versions/3.1[2-9]*/bin/python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
        PY="$cand"; break
    fi
done
[ -n "$PY" ] || { echo "setup_venv: no Python >= 3.12 found; set PYTHON=/path/to/python3.12" >&2; exit 1; }
echo "setup_venv: using $("$PY" --version) at $(command -v "$PY")"
rm -rf .venv
"$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
.venv/bin/pip install -q -e '.[dev]'
echo "setup_venv: done (.venv)"
