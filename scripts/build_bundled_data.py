"""Build the tables shipped in ``bayes_scaling/data/bundled/`` from the published raw files.

Usage (from the repository root)::

    BAYES_SCALING_DATA_DIR=/path/to/data python scripts/build_bundled_data.py

reads ``$BAYES_SCALING_DATA_DIR/gadre2024/`` (or downloads and verifies the pinned files into the
user cache when the variable is unset), parses it with the package's own loaders and writes
``gadre2024_runs.csv``, ``gadre2024_tasks.csv`` and ``NOTICE_gadre2024.txt``. The test
``tests/data/test_bundled.py`` checks that the shipped tables equal a fresh parse.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from bayes_scaling.data import dataset_info, fetch_dataset
from bayes_scaling.data.bundle import BUNDLED_DIR, write_bundled_gadre2024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("BAYES_SCALING_DATA_DIR"),
                        help="folder holding gadre2024/ (default $BAYES_SCALING_DATA_DIR)")
    parser.add_argument("--out-dir", type=Path, default=BUNDLED_DIR,
                        help=f"where to write (default {BUNDLED_DIR})")
    args = parser.parse_args()
    info = dataset_info("gadre2024")
    raw = fetch_dataset("gadre2024", data_dir=args.data_dir)  # verified against the manifest
    for path in write_bundled_gadre2024(raw, args.out_dir, repository=info.repository,
                                        commit=info.commit):
        print(f"wrote {path} ({path.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
