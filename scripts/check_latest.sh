#!/usr/bin/env bash
# Try the newest versions pyproject's ranges allow (no lock) in a throw-away venv, run the default
# test suite there, and say which packages differ from the lock. Finds breakage by a new JAX,
# NumPyro or ArviZ release before a user does. Exit status: the test suite's.
#   bash scripts/check_latest.sh            # the default suite (README's test command)
#   bash scripts/check_latest.sh tests/test_loss_law.py   # pytest arguments of your own
set -euo pipefail
cd "$(dirname "$0")/.."
PY=""
for cand in "${PYTHON:-}" python3.13 python3.12 "$HOME"/.pyenv/versions/3.1[2-9]*/bin/python3 /root/.pyenv/versions/3.1[2-9]*/bin/python3; do
    [ -n "$cand" ] || continue
    if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
        PY="$cand"; break
    fi
done
[ -n "$PY" ] || { echo "check_latest: no Python >= 3.12 found; set PYTHON=/path/to/python3.12" >&2; exit 1; }
MINOR="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "check_latest: $("$PY" --version), throw-away venv in $WORK"
"$PY" -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install -q --upgrade pip
# an editable install into the throw-away venv (the repo's own .venv is untouched): the suite
# then runs from the checkout, doctests included, exactly as the README's test command
"$WORK/venv/bin/pip" install -q -e ".[dev]"
echo "check_latest: newest allowed versions that differ from requirements/py${MINOR}.txt:"
"$WORK/venv/bin/python" scripts/check_lock.py "requirements/py${MINOR}.txt" 2>&1 | sed 's/^/  /' || true
export BAYES_SCALING_CACHE_DIR="$WORK/cache"
set +e
"$WORK/venv/bin/python" -m pytest -q -n 2 "$@"
rc=$?
set -e
# the throw-away venv's editable install rewrote the egg-info; point it back at the repo's .venv
[ -x .venv/bin/pip ] && .venv/bin/pip install -q --no-deps -e . >/dev/null 2>&1 || true
echo "check_latest: pytest exit status $rc"
exit $rc
