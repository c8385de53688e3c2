#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install bayes_scaling with the dev extra, at the exact
# versions the test suite was run with (requirements/py3.<minor>.txt, compiled from pyproject's
# ranges by scripts/lock.sh). Finds python3.12 on PATH, else pyenv's 3.12 (whose shim fails when
# pyenv's global version is older). scripts/check_latest.sh tries the newest allowed versions instead.
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
MINOR="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
LOCK="requirements/py${MINOR}.txt"
[ -f "$LOCK" ] || {
    echo "setup_venv: no lock for Python ${MINOR} ($LOCK); locks exist for: $(ls requirements/py3.*.txt | tr '\n' ' ')" >&2
    echo "setup_venv: set PYTHON to one of those versions, or add a lock with scripts/lock.sh" >&2
    exit 1
}
echo "setup_venv: using $("$PY" --version) at $(command -v "$PY"), lock $LOCK"
rm -rf .venv
"$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip
# the locked versions first, then the package itself without resolving anything again
.venv/bin/pip install -q -r "$LOCK"
.venv/bin/pip install -q --no-deps -e .
.venv/bin/python scripts/check_lock.py "$LOCK"
echo "setup_venv: done (.venv)"
