"""Size limits of the on-disk caches: $BAYES_SCALING_CACHE_MAX_MB, the pruning of JAX's
compiled programs (once per process) and of the stored sampler programs (inference/exported.py,
after each write)."""

from __future__ import annotations

import os
import time

import pytest

from bayes_scaling.inference import config, exported


def test_cache_limit_default_megabytes_and_no_limit(monkeypatch):
    monkeypatch.delenv(config.CACHE_LIMIT_ENV, raising=False)
    assert config.cache_limit_bytes() == 1024 * 2**20
    monkeypatch.setenv(config.CACHE_LIMIT_ENV, "512")
    assert config.cache_limit_bytes() == 512 * 2**20
    monkeypatch.setenv(config.CACHE_LIMIT_ENV, "0.5")
    assert config.cache_limit_bytes() == 2**19
    monkeypatch.setenv(config.CACHE_LIMIT_ENV, "-1")
    assert config.cache_limit_bytes() == -1


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "nan", "inf"])
def test_bad_cache_limit_names_the_variable_and_the_fix(monkeypatch, raw):
    monkeypatch.setenv(config.CACHE_LIMIT_ENV, raw)
    with pytest.raises(ValueError, match=r"BAYES_SCALING_CACHE_MAX_MB=.*e\.g\. "
                                         r"BAYES_SCALING_CACHE_MAX_MB=512"):
        config.cache_limit_bytes()


def test_enable_compilation_cache_prunes_the_oldest_compiled_programs(tmp_path, monkeypatch):
    import jax

    updates = {}  # recorded, not applied: this process's own cache settings stay as they are
    monkeypatch.setattr(jax.config, "update", lambda k, v: updates.__setitem__(k, v))
    folder = tmp_path / "jax"
    folder.mkdir()
    old = _file(folder, "jit_f-aaaa-cache", 600_000, age_s=300)
    new = _file(folder, "jit_g-bbbb-cache", 600_000, age_s=100)
    (folder / "bayes_scaling_runners").mkdir()  # the stored programs' folder: not JAX's
    monkeypatch.setenv(config.CACHE_LIMIT_ENV, "1")  # 1 MiB: room for one of the two
    assert config.enable_compilation_cache(folder) == str(folder)
    assert updates["jax_compilation_cache_dir"] == str(folder)
    assert not os.path.exists(old) and os.path.exists(new)
    assert (folder / "bayes_scaling_runners").is_dir()
    monkeypatch.setenv(config.CACHE_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="BAYES_SCALING_CACHE_MAX_MB"):
        config.enable_compilation_cache(tmp_path / "jax2")
    assert not (tmp_path / "jax2").exists()  # nothing made before the error


def _file(folder, name: str, size: int, age_s: float) -> str:
    path = os.path.join(folder, name)
    with open(path, "wb") as f:
        f.write(b"x" * size)
    t = time.time() - age_s
    os.utime(path, (t, t))
    return path


def test_prune_deletes_least_recently_used_bundles_first(tmp_path):
    old = _file(tmp_path, "a.runner", 400, age_s=300)
    mid = _file(tmp_path, "b.runner", 400, age_s=200)
    new = _file(tmp_path, "c.runner", 400, age_s=100)
    other = _file(tmp_path, "notes.txt", 10_000, age_s=900)  # not a bundle: left alone
    removed = exported.prune(str(tmp_path), limit=900)
    assert removed == [old]
    assert all(os.path.exists(p) for p in (mid, new, other))
    # the bundle just written stays even when it alone is over the limit
    assert exported.prune(str(tmp_path), limit=100, keep=mid) == [new]
    assert os.path.exists(mid)


def test_prune_without_limit_and_stale_temporary_files(tmp_path):
    bundles = [_file(tmp_path, f"{i}.runner", 1000, age_s=10 + i) for i in range(3)]
    stale = _file(tmp_path, ".tmp-dead.runner", 50, age_s=2 * 3600)
    live = _file(tmp_path, ".tmp-writing.runner", 50, age_s=5)  # another process mid-write
    assert exported.prune(str(tmp_path), limit=-1) == [stale]
    assert all(os.path.exists(p) for p in [*bundles, live])
    assert exported.prune(str(tmp_path / "absent"), limit=0) == []


def test_a_load_marks_the_bundle_used(tmp_path):
    path = _file(tmp_path, "k.runner", 10, age_s=1000)
    before = os.stat(path).st_mtime
    assert exported.load_bundle(str(tmp_path), "k") is None  # not a bundle: ignored, never raises
    assert os.stat(path).st_mtime > before + 900
