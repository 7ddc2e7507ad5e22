"""The re-ranking speed benchmark (benchmarks/bench_rerank.py) runs with --quick and writes its JSON."""

from __future__ import annotations

from script_modules import run_quick_benchmark


def test_quick_benchmark_writes_a_complete_report(tmp_path, capsys):
    _, report = run_quick_benchmark("benchmarks/bench_rerank.py", tmp_path / "rerank.json")
    assert report["settings"]["quick"] is True and report["settings"]["items"] == 200
    figures = report["figures"]
    assert set(figures) == {"dpp_window", "dpp_full_kernel", "dpp_full_rerank", "mmr"}
    for name, figure in figures.items():
        assert figure["picks"] == 50, name  # 50 picks fit in D = 64 even without a window
        assert 0 < figure["seconds"] < 30, name
    assert "dpp_window" in capsys.readouterr().out
