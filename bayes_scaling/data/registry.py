"""Named datasets: find them locally or download them from a pinned commit, verified by SHA-256.

Where :func:`load_dataset` looks for dataset ``<name>``, in order:

1. ``<data_dir>/<name>/`` for the ``data_dir`` argument;
2. ``$BAYES_SCALING_DATA_DIR/<name>/`` (when that folder exists);
3. the table shipped inside the package (:mod:`bayes_scaling.data.bundle`; ``gadre2024`` only),
   unless ``raw=True``, ``cache_dir`` or ``base_url`` asks for the raw files: this makes
   ``load_dataset("gadre2024")`` work offline with nothing set;
4. the cache, ``<cache>/<name>-<commit[:7]>/``, where ``<cache>`` is the ``cache_dir`` argument,
   else ``$BAYES_SCALING_CACHE_DIR``, else ``~/.cache/bayes_scaling``.

The first folder that exists is used, after checking every file against the SHA-256 manifest
shipped with the package (a mismatch is an error, never a silent fallback). If none exists, the
files are downloaded into the cache: into a temporary folder inside the cache, every file
verified, then moved into place with one atomic :func:`os.replace`, so a failed or interrupted
download leaves nothing behind.

Download URLs: by default the raw files of the pinned commit,
``https://raw.githubusercontent.com/<owner>/<repo>/<commit>/<folder>/<path>``. A mirror can
replace them (``base_url`` argument or ``$BAYES_SCALING_DATA_URL``); a mirror has the layout of a
data dir, ``<base_url>/<name>/<path>``, so serving any ``BAYES_SCALING_DATA_DIR`` over HTTP makes
one. Files are verified by hash whatever their origin.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import pandas as pd

from bayes_scaling.data._manifest import MANIFEST
from bayes_scaling.data.bundle import BUNDLED_DATASETS, load_bundled
from bayes_scaling.data.chinchilla_epoch import load_chinchilla_epoch
from bayes_scaling.data.gadre2024 import load_gadre2024

__all__ = [
    "CACHE_DIR_ENV",
    "DATA_DIR_ENV",
    "DATA_URL_ENV",
    "DatasetError",
    "DatasetInfo",
    "compute_manifest",
    "dataset_info",
    "fetch_dataset",
    "list_datasets",
    "load_dataset",
]

log = logging.getLogger(__name__)

DATA_DIR_ENV = "BAYES_SCALING_DATA_DIR"
CACHE_DIR_ENV = "BAYES_SCALING_CACHE_DIR"
DATA_URL_ENV = "BAYES_SCALING_DATA_URL"

# Seconds per HTTP request; files are small (< 100 kB), so a stall means a dead connection.
_TIMEOUT_S = 60.0
# Refuse anything larger per file: the pinned files are < 1 MB, a huge body is a wrong URL.
_MAX_BYTES = 64 * 2**20
# Parallel downloads: GitHub serves 200 small files much faster with a few connections.
_WORKERS = 8


class DatasetError(RuntimeError, ValueError):
    """A named dataset cannot be found, downloaded or verified; the message says what to do.

    Examples
    --------
    >>> try:
    ...     dataset_info("no_such_data")
    ... except DatasetError as err:
    ...     print(str(err).split(".")[0])
    unknown dataset 'no_such_data'
    """


@dataclass(frozen=True)
class DatasetInfo:
    """A registered dataset: where it comes from and how to read it.

    Attributes
    ----------
    name : str
        Registry name, also the folder name in data dirs and mirrors.
    description : str
        One line for listings.
    citation : str
        What to cite.
    licence : str
        Licence of the source files.
    repository : str
        GitHub ``owner/name``.
    commit : str
        The pinned commit (40 hex digits).
    folder : str
        Folder of the files inside the repository.
    files : Mapping[str, str]
        Relative path -> SHA-256 of every file, as downloaded.
    reader : callable
        ``reader(folder) -> DataFrame``: the raw-format reader.
    """

    name: str
    description: str
    citation: str
    licence: str
    repository: str
    commit: str
    folder: str
    files: Mapping[str, str]
    reader: Callable[[Path], pd.DataFrame]

    @property
    def source_url(self) -> str:
        """Base URL of the pinned files (append a relative path)."""
        return f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/{self.folder}"

    @property
    def cache_name(self) -> str:
        """Folder name in the cache; carries the commit, so a new pin never reuses old files."""
        return f"{self.name}-{self.commit[:7]}"


_REGISTRY: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        DatasetInfo(
            name="gadre2024",
            description=(
                "Gadre et al. (2024): 104 over-trained runs, 0.011B-6.9B params, M = 5-640, "
                "3 corpora; 8 eval losses and 46 downstream errors"
            ),
            citation=(
                "Gadre et al. (2024), Language models scale reliably with over-training and on "
                "downstream tasks"
            ),
            licence="MIT",
            repository="mlfoundations/scaling",
            commit="a003c4913793ac2ae7ef87b28ecb562955d026d5",
            folder="exp_data",
            files=MappingProxyType(MANIFEST["gadre2024"]),
            reader=load_gadre2024,
        ),
        DatasetInfo(
            name="chinchilla_epoch",
            description=(
                "Hoffmann et al. (2022) Fig. 4 points as extracted by Epoch AI: 245 runs, "
                "loss_chinchilla, 240 in Epoch's main fit"
            ),
            citation="Besiroglu et al. (2024), Chinchilla scaling: a replication attempt",
            licence="none stated in the source repository; cite the paper",
            repository="epoch-research/analyzing-chinchilla",
            commit="92258837425e1b5f2851d624287f0120583a3d0e",
            folder="data",
            files=MappingProxyType(MANIFEST["chinchilla_epoch"]),
            reader=load_chinchilla_epoch,
        ),
    )
}


def list_datasets() -> list[str]:
    """Names of the registered datasets.

    Returns
    -------
    list of str

    Examples
    --------
    >>> list_datasets()
    ['chinchilla_epoch', 'gadre2024']
    """
    return sorted(_REGISTRY)


def dataset_info(name: str) -> DatasetInfo:
    """Source, pinned commit, licence and file manifest of a registered dataset.

    Parameters
    ----------
    name : str

    Returns
    -------
    DatasetInfo

    Raises
    ------
    DatasetError
        If ``name`` is not registered.

    Examples
    --------
    >>> dataset_info("gadre2024").commit[:7]
    'a003c49'
    """
    try:
        return _REGISTRY[name]
    except KeyError:
        raise DatasetError(
            f"unknown dataset {name!r}. Registered: {', '.join(list_datasets())}. "
            "For your own runs use load_runs(path, params=..., tokens=..., loss=...)."
        ) from None


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def compute_manifest(folder: str | os.PathLike[str], files: list[str]) -> dict[str, str]:
    """SHA-256 of ``files`` (paths relative to ``folder``), to regenerate ``_manifest.py``.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp()); _ = (d / "a.txt").write_text("hi")
    >>> compute_manifest(d, ["a.txt"])["a.txt"][:12]
    '8f434346648f'
    """
    folder = Path(folder)
    return {rel: _sha256(folder / rel) for rel in sorted(files)}


def _verify(info: DatasetInfo, folder: Path) -> None:
    for rel, expected in info.files.items():
        path = folder / rel
        if not path.is_file():
            raise DatasetError(
                f"{info.name}: {path} is missing. Fix: restore it, or delete {folder} so that "
                "the dataset is downloaded again."
            )
        actual = _sha256(path)
        if actual != expected:
            raise DatasetError(
                f"{info.name}: {path} does not match the pinned source (sha256 {actual}, "
                f"expected {expected}). Fix: delete {folder} so that the dataset is downloaded "
                "again, or read a modified copy directly with the dataset's reader."
            )


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    if cache_dir is not None:
        return Path(cache_dir).expanduser()
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    return Path.home() / ".cache" / "bayes_scaling"


def _fetch(url: str, timeout: float) -> bytes:
    """GET one URL (module-level, so tests can make sure nothing leaves the machine)."""
    request = urllib.request.Request(url, headers={"User-Agent": "bayes_scaling"})
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        body = response.read(_MAX_BYTES + 1)
    if len(body) > _MAX_BYTES:
        raise DatasetError(f"{url}: response larger than {_MAX_BYTES} bytes; wrong URL?")
    return body


def _file_url(info: DatasetInfo, rel: str, base_url: str | None) -> str:
    quoted = urllib.parse.quote(rel)
    if base_url is None:
        return f"{info.source_url}/{quoted}"
    return f"{base_url.rstrip('/')}/{info.name}/{quoted}"


def _download(info: DatasetInfo, target: Path, base_url: str | None) -> None:
    if base_url is not None:
        scheme = urllib.parse.urlsplit(base_url).scheme
        if scheme not in ("http", "https", "file"):
            raise DatasetError(
                f"base URL {base_url!r} must start with http://, https:// or file://."
            )
    origin = base_url or info.source_url
    log.info("downloading %s (%d files) from %s", info.name, len(info.files), origin)
    # The partial download lives next to its final place (same file system, so os.replace is
    # atomic), under a dot-name that no lookup ever treats as a dataset.
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = Path(
            tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
        )
    except OSError as err:
        raise DatasetError(
            f"{info.name}: cannot write to the cache {target.parent} ({err}). Fix: set "
            f"${CACHE_DIR_ENV} (or cache_dir=) to a writable folder."
        ) from err

    def fetch_one(item: tuple[str, str]) -> None:
        rel, expected = item
        url = _file_url(info, rel, base_url)
        try:
            body = _fetch(url, _TIMEOUT_S)
        except urllib.error.HTTPError as err:
            err.close()  # an HTTPError holds the open response; don't leak its socket
            raise DatasetError(
                f"{info.name}: downloading {url} failed: HTTP {err.code} {err.reason}. Fix: "
                f"check the URL (set with base_url= or ${DATA_URL_ENV}), or put a copy of the "
                f"files in ${DATA_DIR_ENV}/{info.name}/."
            ) from err
        except (urllib.error.URLError, OSError) as err:
            raise DatasetError(
                f"{info.name}: downloading {url} failed ({err}). Fix: check the network, or put "
                f"a copy of the files in ${DATA_DIR_ENV}/{info.name}/."
            ) from err
        actual = hashlib.sha256(body).hexdigest()
        if actual != expected:
            raise DatasetError(
                f"{info.name}: {url} does not match the pinned source (sha256 {actual}, "
                f"expected {expected}); nothing was saved. Fix: use the official source or a "
                "faithful mirror."
            )
        path = partial / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(body)

    try:
        pool = ThreadPoolExecutor(max_workers=_WORKERS)
        try:
            futures = [pool.submit(fetch_one, item) for item in sorted(info.files.items())]
            for future in as_completed(futures):
                future.result()  # re-raises the first failure
        finally:
            # Stop queued downloads on failure; wait for running ones, which write into
            # `partial`, before it is removed below.
            pool.shutdown(wait=True, cancel_futures=True)
        _verify(info, partial)
        try:
            os.replace(partial, target)
        except OSError:
            # Another process finished first: keep its (verified) copy, drop ours.
            if not target.is_dir():
                raise
            _verify(info, target)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def fetch_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    download: bool = True,
) -> Path:
    """Find (or download into the cache) the verified raw files of a dataset.

    Parameters
    ----------
    name : str
        A name from :func:`list_datasets`.
    data_dir : str or path-like, optional
        Folder holding ``<name>/``, searched first.
    cache_dir : str or path-like, optional
        Cache root; default ``$BAYES_SCALING_CACHE_DIR`` or ``~/.cache/bayes_scaling``.
    base_url : str, optional
        Mirror to download from (layout ``<base_url>/<name>/<path>``); default
        ``$BAYES_SCALING_DATA_URL``, else the pinned GitHub commit.
    download : bool, default True
        If False, raise instead of downloading.

    Returns
    -------
    pathlib.Path
        The folder with the files.

    Raises
    ------
    DatasetError
        Unknown name; a local copy that fails its hash check; a failed download or hash check
        (nothing is left in the cache); or no local copy when ``download`` is False.

    Examples
    --------
    >>> folder = fetch_dataset("chinchilla_epoch")  # doctest: +SKIP
    >>> sorted(p.name for p in folder.iterdir())  # doctest: +SKIP
    ['svg_extracted_data.csv']
    """
    info = dataset_info(name)
    candidates: list[Path] = []
    if data_dir is not None:
        candidates.append(Path(data_dir).expanduser() / name)
    env_dir = os.environ.get(DATA_DIR_ENV)
    if env_dir:
        candidates.append(Path(env_dir).expanduser() / name)
    cached = _cache_root(cache_dir) / info.cache_name
    candidates.append(cached)
    for folder in candidates:
        if folder.is_dir():
            _verify(info, folder)
            return folder
    if not download:
        searched = ", ".join(str(c) for c in candidates)
        raise DatasetError(
            f"{name}: not found (looked in {searched}) and download=False. Fix: allow the "
            f"download, or set ${DATA_DIR_ENV} to a folder holding {name}/."
        )
    if base_url is None:
        base_url = os.environ.get(DATA_URL_ENV) or None
    _download(info, cached, base_url)
    return cached


def load_dataset(
    name: str,
    *,
    data_dir: str | os.PathLike[str] | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    base_url: str | None = None,
    download: bool = True,
    raw: bool = False,
) -> pd.DataFrame:
    """Load a registered dataset as a canonical runs table, downloading it once if needed.

    ``gadre2024`` ships inside the package: with no ``data_dir``, no existing
    ``$BAYES_SCALING_DATA_DIR/gadre2024/`` folder and ``raw=False``, the shipped table is
    returned (no file lookup, no network). It equals what the raw files parse to.

    Parameters
    ----------
    name : str
        ``"gadre2024"`` or ``"chinchilla_epoch"`` (see :func:`list_datasets`).
    data_dir, cache_dir, base_url, download
        Where to look and how to download; see :func:`fetch_dataset` and the module docstring.
        Giving ``cache_dir`` or ``base_url`` asks for the raw files.
    raw : bool, default False
        Always read the raw files (data dir, cache or download), never the shipped table.

    Returns
    -------
    pandas.DataFrame
        The runs table (see :mod:`bayes_scaling.data.schema`).

    Raises
    ------
    DatasetError
        If the files cannot be found, downloaded or verified.
    RunsError
        If the verified files cannot be parsed (should not happen with the pinned files).

    Examples
    --------
    >>> runs = load_dataset("gadre2024")
    >>> runs.groupby("dataset").size().to_dict()
    {'c4_original': 34, 'rpj': 35, 'rw_original': 35}
    """
    dataset_info(name)  # unknown names fail here, before any lookup
    env_dir = os.environ.get(DATA_DIR_ENV)
    local_raw = data_dir is not None or bool(env_dir and (Path(env_dir) / name).is_dir())
    wants_raw = raw or local_raw or cache_dir is not None or base_url is not None
    if name in BUNDLED_DATASETS and not wants_raw:
        return load_bundled(name)
    folder = fetch_dataset(
        name, data_dir=data_dir, cache_dir=cache_dir, base_url=base_url, download=download
    )
    return dataset_info(name).reader(folder)
