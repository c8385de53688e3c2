"""Check that the installed distributions equal a lock file's pins (run by scripts/setup_venv.sh).

Usage: ``python scripts/check_lock.py requirements/py3.12.txt``. Exits 1 naming every package whose
installed version differs from its pin, or that is missing; lines whose environment marker does
not apply to this interpreter and platform are skipped.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata

from packaging.markers import Marker
from packaging.utils import canonicalize_name

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)\s*(?:;\s*(.+))?$")


def pins(path: str) -> dict[str, str]:
    """The ``name==version`` pins of a lock file that apply here."""
    out: dict[str, str] = {}
    with open(path, encoding="utf-8") as fh:
        for line in fh:
            m = _PIN.match(line.strip())
            if m is None:
                continue
            name, version, marker = m.groups()
            if marker and not Marker(marker).evaluate():
                continue
            out[canonicalize_name(name)] = version
    return out


def main(path: str) -> int:
    wanted = pins(path)
    if not wanted:
        print(f"check_lock: {path} holds no pins", file=sys.stderr)
        return 1
    bad = []
    for name, version in sorted(wanted.items()):
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            bad.append(f"{name}: not installed (lock: {version})")
            continue
        if have != version:
            bad.append(f"{name}: installed {have}, lock {version}")
    if bad:
        print(f"check_lock: the environment differs from {path}:\n  " + "\n  ".join(bad)
              + "\nFix: rerun bash scripts/setup_venv.sh (it installs the lock into a new .venv)",
              file=sys.stderr)
        return 1
    key = ", ".join(f"{n} {wanted[n]}" for n in ("jax", "jaxlib", "numpyro", "arviz") if n in wanted)
    print(f"check_lock: {len(wanted)} packages as locked ({key})")
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: python scripts/check_lock.py requirements/py3.X.txt", file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
