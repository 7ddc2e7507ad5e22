"""The TIGER budget benchmark runs with --quick and its arithmetic follows from its measurement."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _module():
    spec = importlib.util.spec_from_file_location(
        "tiger_budget", REPO / "benchmarks" / "tiger_budget.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_quick_budget_writes_a_report_whose_totals_follow_from_the_step_time(tmp_path):
    out = tmp_path / "budget.json"
    _module().main(["--quick", "--out", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["command"] == f"python benchmarks/tiger_budget.py --quick --out {out}"
    for key in ("commit", "device", "date", "settings"):
        assert report[key], key
    f = report["figures"]
    assert f["train_rows"] > 0 and 0 < f["train_step_s"] < 30
    assert f["steps_per_epoch"] == -(-f["train_rows"] // 16)  # quick batch is 16 rows
    assert f["train_rows_per_s"] == pytest.approx(16 / f["train_step_s"], rel=0.02)
    # the paper's 200k steps of 256 rows are 16x as many rows as 200k steps of our 16
    assert f["paper_budget_hours"] == pytest.approx(
        200_000 * 16 * f["train_step_s"] / 3600, rel=0.02, abs=0.1
    )
    assert f["paper_epochs_equivalent"] == pytest.approx(200_000 * 256 / f["train_rows"], rel=1e-3)


def test_budget_rejects_a_bad_count():
    with pytest.raises(SystemExit):
        _module().parse_args(["--steps", "0"])
