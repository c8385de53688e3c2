#!/usr/bin/env bash
# Recompile the locks requirements/py3.<minor>.txt from pyproject's ranges (newest versions the
# ranges allow, for every platform: uv's --universal), one per supported Python. Run it on purpose,
# then the tests on the new lock (bash scripts/setup_venv.sh && .venv/bin/python -m pytest -q -n 2),
# and commit the lock only when they pass. uv is installed into a throw-away venv.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS="$(mktemp -d)"
trap 'rm -rf "$TOOLS"' EXIT
python3 -m venv "$TOOLS/venv"
"$TOOLS/venv/bin/pip" install -q uv
for minor in 3.12 3.13; do
    "$TOOLS/venv/bin/uv" pip compile pyproject.toml --extra dev --universal --python-version "$minor" \
        --no-header -q -o "requirements/py${minor}.txt"
    sed -i "1i # Locked by scripts/lock.sh from pyproject.toml's ranges (extra: dev), Python ${minor}, any platform.\n# Installed by scripts/setup_venv.sh; the default test suite was run on exactly these versions." \
        "requirements/py${minor}.txt"
    echo "lock: requirements/py${minor}.txt ($(grep -c '==' "requirements/py${minor}.txt") pins)"
done
