"""Shared test fixtures.

Tests that need the real datasets call ``require_data("ml-1m/users.dat.gz")``: when the file is not
under the data directory the test is skipped with a message naming the file, except on CI
(``CI=true``), where a missing dataset is a failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
# One thread per process: on a 2-core machine that is doing anything else, two OpenMP threads
# spin-wait on each other and small training steps run tens of times slower. Subprocesses and
# notebook kernels inherit the variable.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import torch  # noqa: E402

torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def _data_root() -> Path | None:
    root = os.environ.get("RECNOTES_DATA")
    return Path(root).expanduser() if root else None


@pytest.fixture
def require_data():
    """Return a function that gives the path of a real data file or skips (fails on CI)."""

    def need(*relpaths: str) -> Path:
        from recnotes.data.paths import data_dir

        root = data_dir()
        for rel in relpaths:
            if not (root / rel).exists():
                msg = (
                    f"real data file missing: {root / rel} "
                    "(set RECNOTES_DATA to the folder that holds the datasets)"
                )
                if os.environ.get("CI", "").lower() == "true":
                    pytest.fail(msg)
                pytest.skip(msg)
        return root

    return need
