"""The look-up benchmark (benchmarks/bench_lookup.py) runs with --quick and writes its JSON."""

from __future__ import annotations

from script_modules import run_quick_benchmark


def test_quick_lookup_benchmark_writes_a_complete_report(tmp_path, capsys):
    bench, report = run_quick_benchmark("benchmarks/bench_lookup.py", tmp_path / "lookup.json")
    figures = report["figures"]
    assert set(figures) == {name for name, *_ in bench.CASES}
    for name, figure in figures.items():
        assert figure["nn_embedding_us"] > 0 and figure["embedding_rows_us"] > 0, name
        ratio = figure["nn_embedding_us"] / figure["embedding_rows_us"]
        assert abs(figure["speedup"] - ratio) < 1e-9, name
    assert figures["packed"]["ids"] == 1024 * 6
    assert "embedding_rows" in capsys.readouterr().out
