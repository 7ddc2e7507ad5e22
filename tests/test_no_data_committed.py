"""The datasets' licences forbid redistribution: no data file may be tracked in the repository
(and so none can reach a wheel or the site)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from recnotes.data.paths import REGISTRY

ROOT = Path(__file__).resolve().parents[1]


def tracked_files() -> list[str]:
    try:
        out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True)
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    return out.stdout.splitlines()


def test_no_dataset_file_is_tracked():
    names = {Path(rel).name for info in REGISTRY.values() for rel in info.files}
    names |= {n[: -len(".gz")] for n in names if n.endswith(".gz")}
    tracked = tracked_files()
    clashes = [f for f in tracked if Path(f).name in names]
    assert not clashes, f"dataset files are tracked: {clashes}"
    suspicious = [f for f in tracked if f.endswith((".dat", ".dat.gz", ".libfm", ".libfm.gz", ".mat", ".parquet"))]
    assert not suspicious, f"data-like files are tracked: {suspicious}"


def test_no_large_file_is_tracked():
    big = [f for f in tracked_files() if (ROOT / f).is_file() and (ROOT / f).stat().st_size > 4 * 2**20]
    assert not big, f"files over 4 MiB are tracked: {big}"
