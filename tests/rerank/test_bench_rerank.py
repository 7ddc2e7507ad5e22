"""The re-ranking speed benchmark (benchmarks/bench_rerank.py) runs with --quick and writes its JSON."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_benchmark_writes_a_complete_report(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "bench_rerank", REPO / "benchmarks" / "bench_rerank.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "rerank.json"
    bench.main(["--quick", "--out", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["command"] == f"python benchmarks/bench_rerank.py --quick --out {out}"
    for key in ("commit", "device", "date", "load_average", "settings"):
        assert report[key], key
    assert report["settings"]["quick"] is True and report["settings"]["items"] == 200
    figures = report["figures"]
    assert set(figures) == {"dpp_window", "dpp_full_kernel", "dpp_full_rerank", "mmr"}
    for name, figure in figures.items():
        assert figure["picks"] == 50, name  # 50 picks fit in D = 64 even without a window
        assert 0 < figure["seconds"] < 30, name
    assert "dpp_window" in capsys.readouterr().out
