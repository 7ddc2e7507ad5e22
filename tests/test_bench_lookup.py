"""The look-up benchmark (benchmarks/bench_lookup.py) runs with --quick and writes its JSON."""

from __future__ import annotations

import json

from script_modules import load_script


def test_quick_lookup_benchmark_writes_a_complete_report(tmp_path, capsys):
    bench = load_script("benchmarks/bench_lookup.py")
    out = tmp_path / "lookup.json"
    bench.main(["--quick", "--out", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["command"] == f"python benchmarks/bench_lookup.py --quick --out {out}"
    for key in ("commit", "device", "date", "load_average", "settings"):
        assert report[key], key
    figures = report["figures"]
    assert set(figures) == {name for name, *_ in bench.CASES}
    for name, figure in figures.items():
        assert figure["nn_embedding_us"] > 0 and figure["embedding_rows_us"] > 0, name
        ratio = figure["nn_embedding_us"] / figure["embedding_rows_us"]
        assert abs(figure["speedup"] - ratio) < 1e-9, name
    assert figures["packed"]["ids"] == 1024 * 6
    assert "embedding_rows" in capsys.readouterr().out
