"""The sequential training-throughput benchmark runs with --quick and writes a complete report."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_quick_benchmark_writes_a_complete_report(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location(
        "bench_sequential", REPO / "benchmarks" / "bench_sequential.py"
    )
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "sequential.json"
    bench.main(["--quick", "--out", str(out)])
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["command"] == f"python benchmarks/bench_sequential.py --quick --out {out}"
    for key in ("commit", "device", "date", "load_average", "settings"):
        assert report[key], key
    settings = report["settings"]
    assert settings["quick"] is True
    assert (settings["batch_size"], settings["max_len"], settings["num_items"]) == (16, 8, 500)
    figures = report["figures"]
    assert set(figures) == {"sasrec", "hstu"}
    for name, figure in figures.items():
        # the model was built with its Beauty settings from experiments/recall_benchmark.py
        assert figure["config"]["embed_dim"] == 64, name
        assert figure["num_params"] > 500 * 64, name  # at least the item table
        assert 0 < figure["train_step_s"] < 30, name
        per_s = 16 / figure["train_step_s"]  # sequences/s is the batch over the step time
        assert abs(figure["train_sequences_per_s"] - per_s) < 0.01 * per_s + 0.1, name
        assert 0 < figure["encoder_forward_s"] < 30, name
        assert 0 < figure["train_step_cpu_s"] < 30 and 0 < figure["encoder_forward_cpu_s"] < 30
    assert figures["hstu"]["config"]["num_heads"] == 1
    assert figures["sasrec"]["config"]["loss"] == "ce"
    assert "HSTU" in capsys.readouterr().out
