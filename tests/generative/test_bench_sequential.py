"""The sequential training-throughput benchmark runs with --quick and writes a complete report."""

from __future__ import annotations

from script_modules import run_quick_benchmark


def test_quick_benchmark_writes_a_complete_report(tmp_path, capsys):
    _, report = run_quick_benchmark("benchmarks/bench_sequential.py", tmp_path / "sequential.json")
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
