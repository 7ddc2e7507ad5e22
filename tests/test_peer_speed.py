"""The side-by-side speed benchmark (benchmarks/peer_speed.py): its pure parts, without the peers.

The test that installs and runs torch-rechub and DeepCTR-Torch is skipped unless
``RECNOTES_PEER_BENCH=1`` is set (it builds a separate virtual environment and takes minutes).
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.metrics import roc_auc_score

from recnotes.data import Feature, FeatureTable, Schema

REPO = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


bench = _load("peer_speed")
runner = _load("peer_speed_runner")

VOCAB = {"user_ids": 30, "item_ids": 20, "gender": 3, "age": 8, "occupation": 22, "zip": 40}


def _tables(n_train: int = 600, n_test: int = 200, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    schema = Schema(
        [Feature(f, "sparse", vocab_size=v) for f, v in VOCAB.items()] + [Feature("label", "label")]
    )

    def table(n):
        cols = {f: torch.randint(0, v, (n,), generator=gen) for f, v in VOCAB.items()}
        # a learnable label: users with an even id like even items
        cols["label"] = ((cols["user_ids"] + cols["item_ids"]) % 2 == 0).float()
        return FeatureTable(cols, schema)

    return table(n_train), table(n_test)


def test_defaults_pin_one_setting_for_all_libraries():
    args = bench.parse_args([])
    assert (args.epochs, args.threads, args.batch_size, args.embed_dim) == (1, 1, 1024, 16)
    assert args.hidden == [256, 128, 64] and args.cross_layers == 3
    assert args.libraries == ["recnotes", "torch-rechub", "deepctr-torch", "floor"]
    assert args.models == ["deepfm", "dcn-v2"]
    assert args.out == bench.DEFAULT_OUT and not args.quick
    assert args.rounds == 3


def test_quick_forces_one_epoch_and_writes_under_the_cache():
    args = bench.parse_args(["--quick", "--epochs", "5", "--rounds", "4"])
    assert args.epochs == 1 and args.rounds == 1
    assert args.out == bench.QUICK_OUT
    assert bench.CACHE in args.out.parents


@pytest.mark.parametrize(
    "flag", ["--epochs", "--threads", "--batch-size", "--embed-dim", "--rounds"]
)
def test_non_positive_settings_are_refused(flag, capsys):
    with pytest.raises(SystemExit):
        bench.parse_args([flag, "0"])
    assert "must be at least 1" in capsys.readouterr().err


def test_each_round_runs_every_pair_once_in_a_rotated_order():
    models, libraries = ["deepfm", "dcn-v2"], list(bench.LIBRARIES)
    orders = [bench.run_order(models, libraries, r) for r in range(3)]
    for order in orders:
        assert sorted(order) == sorted((m, lib) for m in models for lib in libraries)
    assert len({order[0] for order in orders}) == 3  # a different pair opens each round


def test_median_row_keeps_the_median_run_and_every_round():
    runs = [
        {"samples_per_s": 90.0, "peak_mem_mb": 400.0, "test_auc": 0.87, "train_seconds": 9.0},
        {"samples_per_s": 60.0, "peak_mem_mb": 410.0, "test_auc": 0.87, "train_seconds": 12.0},
        {"samples_per_s": 80.0, "peak_mem_mb": 405.0, "test_auc": 0.87, "train_seconds": 10.0},
    ]
    row = bench.median_row(runs)
    assert row["samples_per_s"] == 80.0 and row["train_seconds"] == 10.0  # one run's figures
    assert row["rounds_samples_per_s"] == [90.0, 60.0, 80.0]
    assert row["peak_mem_mb"] == 410.0
    assert bench.median_row(runs[:2])["samples_per_s"] == 60.0  # even: the slower middle run
    with pytest.raises(ValueError, match="no runs"):
        bench.median_row([])


def test_peers_are_pinned_and_never_recnotes_dependencies():
    assert "torch==2.13.0" in bench.PEER_PINS  # an unpinned torch would pull a CUDA build
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8").lower()
    for name in ("deepctr", "rechub"):
        assert name not in pyproject
    assert bench.PEER_VENV.relative_to(REPO).parts[0] == ".cache"
    assert ".cache/" in (REPO / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_export_writes_the_same_ids_and_labels_every_runner_reads(tmp_path):
    train, test = _tables()
    path = bench.export_arrays(train, test, tmp_path / "a.npz", limit=(500, 150))
    data = runner.load_arrays(str(path))
    assert data["features"] == list(bench.FEATURES)
    assert data["vocab_sizes"] == VOCAB
    for f in bench.FEATURES:
        assert data["train"][f].dtype == np.int64
        np.testing.assert_array_equal(data["train"][f], train.columns[f][:500].numpy())
        np.testing.assert_array_equal(data["test"][f], test.columns[f][:150].numpy())
    assert data["train_label"].dtype == np.float32 and len(data["train_label"]) == 500
    np.testing.assert_array_equal(data["test_label"], test.columns["label"][:150].numpy())
    assert not list(tmp_path.glob("*.tmp*"))  # written atomically


def test_auc_matches_sklearn_with_ties():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 500)
    scores = np.round(rng.random(500) + 0.3 * labels, 1)  # rounding makes many ties
    assert runner.auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
    with pytest.raises(ValueError, match="both classes"):
        runner.auc(np.ones(4), np.arange(4.0))


def test_table_lists_every_row_with_its_figures():
    rows = [
        {"library": "recnotes", "version": "0.1.0", "model": "deepfm", "samples_per_s": 123456.7,
         "peak_mem_mb": 512.4, "test_auc": 0.80123, "train_seconds": 4.56},
        {"library": "deepctr-torch", "version": "0.3.0", "model": "dcn-v2",
         "samples_per_s": 9876.5, "peak_mem_mb": 1024.0, "test_auc": 0.79, "train_seconds": 60.0},
    ]  # fmt: skip
    lines = bench.render_table(rows).splitlines()
    assert lines[0].split() == ["library", "version", "model", "samples/s", "peak", "MiB",
                                "test", "AUC", "train", "s"]  # fmt: skip
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert lines[2].split() == ["recnotes", "0.1.0", "deepfm", "123,457", "512", "0.8012", "4.6"]
    assert lines[3].split() == ["deepctr-torch", "0.3.0", "dcn-v2", "9,876", "1,024", "0.7900",
                                "60.0"]  # fmt: skip
    assert len({len(line) for line in lines[:2]}) == 1  # the rule spans the header
    assert lines[2].index("123,457") + len("123,457") == lines[3].index("9,876") + len("9,876")


def test_run_one_reads_the_row_and_names_a_failure():
    row = {"library": "x", "samples_per_s": 1.5}
    command = [
        sys.executable,
        "-c",
        f"print('noise'); print('PEER_SPEED_ROW ' + {json.dumps(row)!r})",
    ]
    assert bench.run_one(command, threads=1) == row
    failing = [sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"]
    with pytest.raises(RuntimeError, match=r"(?s)exit 3.*boom"):
        bench.run_one(failing, threads=1)


def test_runner_sees_the_thread_setting(tmp_path):
    code = "import os, torch; print('PEER_SPEED_ROW ' + '{\"omp\": \"%s\"}' % os.environ['OMP_NUM_THREADS'])"
    assert bench.run_one([sys.executable, "-c", code], threads=3) == {"omp": "3"}


@pytest.mark.parametrize("model", ["deepfm", "dcn-v2"])
def test_recnotes_runner_trains_on_the_exported_arrays(tmp_path, model):
    train, test = _tables()
    npz = bench.export_arrays(train, test, tmp_path / "a.npz")
    row = runner.main(["--library", "recnotes", "--model", model, "--npz", str(npz),
                       "--epochs", "2", "--batch-size", "64", "--embed-dim", "4",
                       "--hidden", "8", "--cross-layers", "1"])  # fmt: skip
    assert (row["library"], row["model"], row["epochs"], row["train_rows"]) == (
        "recnotes",
        model,
        2,
        600,
    )
    assert row["samples_per_s"] == pytest.approx(2 * 600 / row["train_seconds"])
    assert row["peak_mem_mb"] >= row["rss_before_train_mb"] > 0
    assert 0.0 <= row["test_auc"] <= 1.0
    settings = row["model_settings"]
    assert (settings["embed_dim"], settings["hidden"], settings["dropout"]) == (4, [8], 0.0)
    if model == "dcn-v2":
        assert (settings["num_cross_layers"], settings["structure"], settings["low_rank"]) == (
            1,
            "parallel",
            0,
        )


@pytest.mark.parametrize("model", ["deepfm", "dcn-v2"])
def test_floor_times_the_dense_layers_for_one_epoch_of_steps(tmp_path, model):
    """The floor row: the MLP (+ cross layers) on a fixed batch, as many steps as an epoch, no AUC."""
    train, test = _tables()
    npz = bench.export_arrays(train, test, tmp_path / "a.npz")
    row = runner.main(["--library", "floor", "--model", model, "--npz", str(npz),
                       "--epochs", "2", "--batch-size", "64", "--embed-dim", "4",
                       "--hidden", "8", "--cross-layers", "1"])  # fmt: skip
    assert row["test_auc"] is None and row["train_rows"] == 600
    settings = row["model_settings"]
    assert settings["steps"] == 2 * 10  # ceil(600 / 64) = 10 steps per epoch
    assert settings["input_width"] == 6 * 4
    assert settings["cross_layers"] == (1 if model == "dcn-v2" else 0)
    assert row["samples_per_s"] == pytest.approx(2 * 600 / row["train_seconds"])
    assert "floor" in bench.render_table([{**row, "version": "t"}])


@pytest.mark.skipif(
    os.environ.get("RECNOTES_PEER_BENCH") != "1",
    reason="set RECNOTES_PEER_BENCH=1 to build .cache/peer-venv and run the peers (minutes)",
)
def test_quick_benchmark_runs_all_three_libraries(tmp_path, require_data):
    require_data("ml-1m/users.dat.gz", "ml-1m/movies.dat.gz")
    out = tmp_path / "peer.json"
    report = bench.main(["--quick", "--out", str(out)])
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["rows"] == report["rows"]
    assert {(r["library"], r["model"]) for r in saved["rows"]} == {
        (lib, m) for lib in bench.LIBRARIES for m in bench.MODELS
    }
    for key in ("command", "commit", "device", "date", "settings", "load_average"):
        assert saved[key]
    for row in saved["rows"]:
        assert row["samples_per_s"] > 0 and row["peak_mem_mb"] > 0
        if row["library"] == "floor":
            assert row["test_auc"] is None
        else:
            assert 0.5 < row["test_auc"] < 1.0
