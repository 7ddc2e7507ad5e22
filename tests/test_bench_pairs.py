"""The pair-products benchmark (benchmarks/bench_pairs.py) runs with --quick and writes its JSON."""

from __future__ import annotations

from script_modules import run_quick_benchmark


def test_quick_pairs_benchmark_writes_a_complete_report(tmp_path, capsys):
    bench, report = run_quick_benchmark("benchmarks/bench_pairs.py", tmp_path / "pairs.json")
    figures = report["figures"]
    assert set(figures) == {name for name, *_ in bench.CASES}
    for name, figure in figures.items():
        for way in ("indexed", "pair_products"):
            assert figure[f"op_{way}_ms"] > 0 and figure[f"step_{way}_ms"] > 0, name
        assert abs(figure["op_speedup"] - figure["op_indexed_ms"] / figure["op_pair_products_ms"]) < 1e-9
        assert figure["shape"][:2] == [256, 10], name  # --quick: batch 256, Frappe's 10 fields
    assert figures["afm-square"]["shape"][2] == 256
    assert report["settings"]["quick"] is True
    assert "afm-square" in capsys.readouterr().out
