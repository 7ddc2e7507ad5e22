"""The FuxiCTR cross-check of AFM (experiments/fuxictr_frappe.py and its runner): the parts that
need no FuxiCTR, and a gated end-to-end run.

The run that installs FuxiCTR into its own virtual environment and trains there is skipped unless
``RECNOTES_PEER_BENCH=1`` is set, like the peer speed benchmark (it takes minutes and needs the
Frappe files under ``RECNOTES_DATA``).
"""

from __future__ import annotations

import json
import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from recnotes.data import Feature, FeatureTable, Schema
from tests.script_modules import load_script

driver = load_script("experiments/fuxictr_frappe.py")
runner = load_script("experiments/fuxictr_frappe_runner.py")


def _arrays(train, valid, test):
    out = {"features": np.asarray(["f"])}
    for part, ids in (("train", train), ("valid", valid), ("test", test)):
        out[f"{part}__f"] = np.asarray(ids, dtype=np.int64)
        out[f"{part}__label"] = np.arange(len(ids), dtype=np.float32) % 2
    return out


def test_ids_are_encoded_from_the_train_split_with_one_shared_oov_row():
    encoded, sizes = runner.encode_like_fuxictr(
        _arrays(train=[5, 3, 5, 9], valid=[3, 7, 1], test=[9, 12]), ["f"]
    )
    # train ids 3, 5, 9 take rows 1, 2, 3; row 0 is padding; 7, 1 and 12 share the OOV row 4
    assert encoded["train"]["f"].tolist() == [2, 1, 2, 3]
    assert encoded["valid"]["f"].tolist() == [1, 4, 4]
    assert encoded["test"]["f"].tolist() == [3, 4]
    assert sizes == {"f": 5}
    assert encoded["valid"]["label"].tolist() == [0.0, 1.0, 0.0]
    assert encoded["train"]["f"].dtype == torch.int64


def test_batches_visit_every_row_once_per_pass_in_a_new_order():
    columns = {"x": torch.arange(10), "label": torch.arange(10).float()}
    batches = runner.Batches(columns, 4, True, torch.Generator().manual_seed(0))
    assert len(batches) == 3
    passes = [torch.cat([b["x"] for b in batches]) for _ in range(2)]
    for seen in passes:
        assert sorted(seen.tolist()) == list(range(10))
    assert passes[0].tolist() != passes[1].tolist()
    first = next(iter(batches))
    assert torch.equal(first["label"], first["x"].float())  # columns stay aligned
    ordered = runner.Batches(columns, 4, False)
    assert torch.cat([b["x"] for b in ordered]).tolist() == list(range(10))


def test_export_writes_every_part_and_limits_train_only(tmp_path):
    names = list(driver.FEATURES)
    schema = Schema([Feature(f, "sparse", vocab_size=50) for f in names] + [Feature("y", "label")])

    def table(n, offset):
        cols = {f: torch.arange(n) + offset for f in names}
        cols["y"] = (torch.arange(n) % 2).float()
        return FeatureTable(cols, schema)

    data = SimpleNamespace(train=table(30, 0), valid=table(12, 1), test=table(9, 2), label="y")
    path = driver.export_split(data, tmp_path / "split.npz", limit=20)
    arrays = np.load(path)
    assert [str(f) for f in arrays["features"]] == names
    assert arrays["train__user_ids"].shape == (20,) and arrays["valid__city"].shape == (12,)
    assert arrays["test__item_ids"].tolist() == list(range(2, 11))
    assert arrays["train__label"].dtype == np.float32 and arrays["test__city"].dtype == np.int64
    assert not (tmp_path / "split.tmp.npz").exists()


def test_mean_std_is_the_sample_spread():
    assert driver.mean_std([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert driver.mean_std([0.5]) == (0.5, 0.0)


@pytest.mark.skipif(
    os.environ.get("RECNOTES_PEER_BENCH") != "1",
    reason="installs FuxiCTR into .cache/fuxictr-venv and trains; set RECNOTES_PEER_BENCH=1",
)
@pytest.mark.parametrize("model", ["afm", "fm", "pnn"])
def test_quick_run_trains_in_fuxictr_and_writes_a_result(tmp_path, model):
    out = tmp_path / f"{model}-fuxictr.json"
    driver.main(["--quick", "--model", model, "--seeds", "0", "--out", str(out)])
    result = json.loads(out.read_text())
    assert result["model"] == model
    seed = result["config"]["per_seed"][0]
    assert result["command"].startswith("python experiments/fuxictr_frappe.py --quick --model")
    assert result["config"]["library"].startswith("fuxictr 2.3.10")
    assert seed["epochs_run"] == 2 and len(seed["curve"]) == 2
    assert 0.5 < result["metrics"]["auc"] <= 1.0
    assert seed["curve"][1]["train_loss"] < seed["curve"][0]["train_loss"]
