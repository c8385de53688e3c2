"""The locks in requirements/ agree with pyproject's ranges, with each other's key pins, with the
README, and (where the suite runs in a venv made from a lock) with what is installed."""

from __future__ import annotations

import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
LOCKS = sorted((ROOT / "requirements").glob("py3.*.txt"))
KEY = ("jax", "jaxlib", "numpyro", "arviz")


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;]+)", line)
        if m:
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def _requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    reqs = [Requirement(r) for r in project["dependencies"]]
    reqs += [Requirement(r) for r in project["optional-dependencies"]["dev"]]
    return reqs


def test_a_lock_for_each_supported_python():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["requires-python"] == ">=3.12"
    assert [p.name for p in LOCKS] == ["py3.12.txt", "py3.13.txt"]


@pytest.mark.parametrize("lock", LOCKS, ids=lambda p: p.name)
def test_lock_pins_every_requirement_inside_its_range(lock):
    pins = _pins(lock)
    for req in _requirements():
        name = canonicalize_name(req.name)
        assert name in pins, f"{lock.name} does not pin {name}"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"{lock.name} pins {name}=={pins[name]}, outside pyproject's {req}"


def test_locks_agree_and_the_readme_names_their_versions():
    first = _pins(LOCKS[0])
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    for lock in LOCKS[1:]:
        other = _pins(lock)
        assert {k: other[k] for k in KEY} == {k: first[k] for k in KEY}, lock.name
    for k in KEY:
        assert f"{k} {first[k]}" in readme, f"README does not name the lock's {k} {first[k]}"


def test_installed_versions_equal_the_lock():
    lock = ROOT / "requirements" / f"py{sys.version_info[0]}.{sys.version_info[1]}.txt"
    if not lock.exists():
        pytest.skip(f"no lock for this Python ({lock.name})")
    if Path(sys.prefix).resolve() != (ROOT / ".venv").resolve():
        pytest.skip("not the repo's .venv (scripts/check_latest.sh tests other versions on purpose)")
    pins = _pins(lock)
    for k in KEY:
        assert metadata.version(k) == pins[k], f"{k}: installed {metadata.version(k)}, lock {pins[k]}"
