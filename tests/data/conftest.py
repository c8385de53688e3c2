"""Fixtures for the data-layer tests: no real network, a private cache, fake and real data."""

from __future__ import annotations

import csv
import functools
import http.server
import json
import os
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from bayes_scaling.data import registry
from bayes_scaling.data.schema import GADRE2024_TASKS_46

_LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Private cache per test, no mirror from the environment, and no request off this machine."""
    monkeypatch.setenv(registry.CACHE_DIR_ENV, str(tmp_path / "cache"))
    monkeypatch.delenv(registry.DATA_URL_ENV, raising=False)
    real_fetch = registry._fetch

    def local_only(url: str, timeout: float) -> bytes:
        host = urllib.parse.urlsplit(url).hostname
        if host not in _LOCAL_HOSTS:
            raise AssertionError(f"test tried to reach the network: {url}")
        return real_fetch(url, timeout)

    monkeypatch.setattr(registry, "_fetch", local_only)


@pytest.fixture
def shared_data() -> Path:
    """The reference copies of the raw data (``$BAYES_SCALING_DATA_DIR``), or skip."""
    root = os.environ.get(registry.DATA_DIR_ENV)
    if not root:
        pytest.skip("BAYES_SCALING_DATA_DIR is not set: point it at the reference data folder")
    path = Path(root)
    if not (path / "gadre2024").is_dir() or not (path / "chinchilla_epoch").is_dir():
        pytest.skip(f"BAYES_SCALING_DATA_DIR={root} has no gadre2024/ and chinchilla_epoch/")
    return path


@pytest.fixture
def no_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hide ``$BAYES_SCALING_DATA_DIR`` so that lookups fall through to the cache."""
    monkeypatch.delenv(registry.DATA_DIR_ENV, raising=False)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass


@pytest.fixture
def http_mirror() -> Iterator[Callable[[Path], str]]:
    """Start a local HTTP server on 127.0.0.1 serving a folder; returns its base URL."""
    servers: list[tuple[http.server.ThreadingHTTPServer, threading.Thread]] = []

    def serve(folder: Path) -> str:
        handler = functools.partial(_QuietHandler, directory=str(folder))
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
        thread.start()
        servers.append((server, thread))
        return f"http://127.0.0.1:{server.server_address[1]}"

    yield serve
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


FAKE_PARAMS = {"d=96_l=8_h=4": 10569312, "d=512_l=8_h=4": 78914048}
FAKE_EVAL_PATHS = {
    "openlm": "training/eval_data/val_tok_mult/openlm/shard_00000000.tar",
    "c4_val": "training/eval_data/c4_val/shard-{0000000..0000010}.tar",
    "paloma_c4_en": "training/eval_data/val_tok_mult/paloma_c4_en/00000001.tar",
    "paloma_dolma_100_programing_languages": (
        "training/eval_data/val_tok_mult/paloma_dolma_100_programing_languages/00000001.tar"
    ),
    "paloma_falcon_refinedweb": (
        "training/eval_data/val_tok_mult/paloma_falcon-refinedweb/00000001.tar"
    ),
    "paloma_ptb": "training/eval_data/val_tok_mult/paloma_ptb/00000001.tar",
    "paloma_redpajama": "training/eval_data/val_tok_mult/paloma_redpajama/00000001.tar",
    "de_en": "training/eval_data/val_tok_mult/de-en/val_de-en_100.tar",
}


def _model_json(name: str, arch: str, cc: float, loss: float) -> dict[str, object]:
    n = FAKE_PARAMS[arch]
    results = [
        {
            "loss": loss + i / 10,
            "loss_tokens_lower_95": loss + i / 10 - 0.01,
            "loss_tokens_upper_95": loss + i / 10 + 0.01,
            "loss_sequences_lower_95": loss + i / 10 - 0.03,
            "loss_sequences_upper_95": loss + i / 10 + 0.03,
            "val_data": [path],
        }
        for i, path in enumerate(FAKE_EVAL_PATHS.values())
    ]
    return {
        "name": name,
        "dataset_name": "rpj",
        "hyperparameters": {
            "model": arch,
            "params": n,
            "params_no_embed": n - 1000,
            "tokens": int(20 * cc * n),
            "chinchilla_multiplier": cc,
        },
        "results": results,
    }


@pytest.fixture
def fake_gadre(tmp_path: Path) -> Path:
    """A two-run folder in the raw gadre2024 layout (models/, evals/, eval_metadata.csv)."""
    root = tmp_path / "gadre_fake"
    (root / "models").mkdir(parents=True)
    (root / "evals").mkdir()
    for arch, cc, loss in (("d=96_l=8_h=4", 1.0, 4.0), ("d=512_l=8_h=4", 16.0, 3.0)):
        name = f"rpj-{arch}-{cc}"
        (root / "models" / f"{name}.json").write_text(json.dumps(_model_json(name, arch, cc, loss)))
        accuracies = {task: 0.25 + (k % 10) / 20 for k, task in enumerate(GADRE2024_TASKS_46)}
        body = {"name": "heavy", "eval_metrics": {"icl": accuracies}}
        (root / "evals" / f"evaluation_{name}_heavy.json").write_text(json.dumps(body))
    with (root / "eval_metadata.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["Eval Task", "Random baseline"])
        for task in GADRE2024_TASKS_46:
            writer.writerow([task, 25])
    return root
