"""Dataset registry: lookup order, hash checks, and atomic downloads from a local HTTP mirror."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from bayes_scaling.data import (
    DatasetError,
    data_hash,
    dataset_info,
    fetch_dataset,
    list_datasets,
    load_dataset,
    registry,
)

Mirror = Callable[[Path], str]


def _cache_entries(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_list_and_info() -> None:
    assert list_datasets() == ["chinchilla_epoch", "gadre2024"]
    info = dataset_info("gadre2024")
    assert len(info.commit) == 40 and info.commit.startswith("a003c49")
    assert info.source_url == (
        "https://raw.githubusercontent.com/mlfoundations/scaling/"
        "a003c4913793ac2ae7ef87b28ecb562955d026d5/exp_data"
    )
    assert len(info.files) == 209
    assert dataset_info("chinchilla_epoch").commit.startswith("9225883")


def test_unknown_dataset() -> None:
    with pytest.raises(DatasetError, match="unknown dataset 'gadre'.*gadre2024"):
        load_dataset("gadre")


def test_manifest_matches_reference_copy(shared_data: Path) -> None:
    for name in list_datasets():
        info = dataset_info(name)
        assert registry.compute_manifest(shared_data / name, list(info.files)) == dict(info.files)


def test_offline_and_absent(no_data_dir: None, tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not found.*download=False"):
        load_dataset("chinchilla_epoch", download=False)
    assert _cache_entries(tmp_path / "cache") == []


def test_data_dir_argument_then_env(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    # An explicit data_dir without the dataset falls through to $BAYES_SCALING_DATA_DIR.
    assert fetch_dataset("chinchilla_epoch", data_dir=empty, download=False) == (
        shared_data / "chinchilla_epoch"
    )
    monkeypatch.delenv(registry.DATA_DIR_ENV)
    assert fetch_dataset("chinchilla_epoch", data_dir=shared_data, download=False) == (
        shared_data / "chinchilla_epoch"
    )


def test_corrupted_local_copy_is_an_error(shared_data: Path, tmp_path: Path) -> None:
    local = tmp_path / "local"
    shutil.copytree(shared_data / "chinchilla_epoch", local / "chinchilla_epoch")
    csv = local / "chinchilla_epoch" / "svg_extracted_data.csv"
    csv.write_bytes(csv.read_bytes().replace(b"5.005581996196243", b"5.005581996196244"))
    with pytest.raises(DatasetError, match=r"svg_extracted_data.csv does not match.*delete"):
        load_dataset("chinchilla_epoch", data_dir=local, download=False)


def test_download_from_mirror_then_cached(
    shared_data: Path, no_data_dir: None, tmp_path: Path, http_mirror: Mirror
) -> None:
    base = http_mirror(shared_data)
    runs = load_dataset("gadre2024", base_url=base)
    assert len(runs) == 104
    cache = tmp_path / "cache"
    assert _cache_entries(cache) == ["gadre2024-a003c49"]
    assert len(list((cache / "gadre2024-a003c49" / "models").iterdir())) == 104
    # Second load: from the cache, no download allowed.
    again = load_dataset("gadre2024", download=False)
    assert data_hash(again) == data_hash(runs)
    reference = load_dataset("gadre2024", data_dir=shared_data, download=False)
    assert data_hash(reference) == data_hash(runs)


def test_download_url_from_environment(
    shared_data: Path, no_data_dir: None, tmp_path: Path, http_mirror: Mirror,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(registry.DATA_URL_ENV, http_mirror(shared_data) + "/")
    other_cache = tmp_path / "other"
    runs = load_dataset("chinchilla_epoch", cache_dir=other_cache)
    assert len(runs) == 245
    assert _cache_entries(other_cache) == ["chinchilla_epoch-9225883"]


def test_checksum_mismatch_leaves_nothing(
    shared_data: Path, no_data_dir: None, tmp_path: Path, http_mirror: Mirror
) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(shared_data / "gadre2024", mirror / "gadre2024")
    target = mirror / "gadre2024" / "models" / "rpj-open_lm_1b-32.0.json"
    target.write_text(target.read_text().replace("2.502053562117363", "2.402053562117363"))
    with pytest.raises(DatasetError, match=r"rpj-open_lm_1b-32.0.json does not match.*sha256"):
        load_dataset("gadre2024", base_url=http_mirror(mirror))
    assert _cache_entries(tmp_path / "cache") == []


def test_missing_file_404_leaves_nothing(
    shared_data: Path, no_data_dir: None, tmp_path: Path, http_mirror: Mirror
) -> None:
    mirror = tmp_path / "mirror"
    shutil.copytree(shared_data / "gadre2024", mirror / "gadre2024")
    (mirror / "gadre2024" / "evals" / "evaluation_rw_original-open_lm_7b-1.0_heavy.json").unlink()
    with pytest.raises(DatasetError, match=r"open_lm_7b-1.0_heavy.json failed: HTTP 404"):
        load_dataset("gadre2024", base_url=http_mirror(mirror))
    assert _cache_entries(tmp_path / "cache") == []


def test_unreachable_mirror_leaves_nothing(no_data_dir: None, tmp_path: Path) -> None:
    # Port 9 (discard) on localhost: nothing listens, the connection is refused at once.
    with pytest.raises(DatasetError, match="svg_extracted_data.csv failed"):
        load_dataset("chinchilla_epoch", base_url="http://127.0.0.1:9")
    assert _cache_entries(tmp_path / "cache") == []


def test_bad_url_scheme(no_data_dir: None) -> None:
    with pytest.raises(DatasetError, match="must start with http"):
        load_dataset("chinchilla_epoch", base_url="ftp://example.org/data")


def test_default_urls_are_pinned() -> None:
    info = dataset_info("chinchilla_epoch")
    url = registry._file_url(info, "svg_extracted_data.csv", None)
    assert url == (
        "https://raw.githubusercontent.com/epoch-research/analyzing-chinchilla/"
        "92258837425e1b5f2851d624287f0120583a3d0e/data/svg_extracted_data.csv"
    )
    gadre = dataset_info("gadre2024")
    assert registry._file_url(gadre, "models/a=b.json", "http://h/m/") == (
        "http://h/m/gadre2024/models/a%3Db.json"
    )


def test_unexpected_failure_mid_download_leaves_nothing(
    shared_data: Path, no_data_dir: None, tmp_path: Path, http_mirror: Mirror,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fetch = registry._fetch
    calls: list[str] = []

    def flaky(url: str, timeout: float) -> bytes:
        calls.append(url)
        if len(calls) == 50:
            raise RuntimeError("connection dropped")
        return fetch(url, timeout)

    monkeypatch.setattr(registry, "_fetch", flaky)
    with pytest.raises(RuntimeError, match="connection dropped"):
        load_dataset("gadre2024", base_url=http_mirror(shared_data))
    assert _cache_entries(tmp_path / "cache") == []


def test_unwritable_cache(no_data_dir: None, tmp_path: Path) -> None:
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(DatasetError, match="cannot write to the cache.*BAYES_SCALING_CACHE_DIR"):
        load_dataset("chinchilla_epoch", cache_dir=blocker / "cache", base_url="http://127.0.0.1:9")
