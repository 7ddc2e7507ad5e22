"""DSSM: the log-Q corrected in-batch softmax, unit vectors, independent towers, BPR's accidental
hits, bad inputs, the try-it snippet (the learning test) and the benchmark's smoke run.

The contract test (tests/test_contract.py) covers shapes, gradients, determinism, row independence
and the state-dict round trip.
"""

from __future__ import annotations

import importlib.util
import json
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from recnotes.data import BatchError
from recnotes.data.retrieval import retrieval_synthetic
from recnotes.losses import in_batch_softmax, log_q
from recnotes.recall.dssm import DSSM, DSSMConfig
from recnotes.results import Result

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data():
    return retrieval_synthetic(num_users=60, num_items=40, max_len=6, seed=1)


def model_and_batch(data, rows: int = 24, **config) -> tuple[DSSM, dict]:
    torch.manual_seed(0)
    model = DSSM(data.schema, DSSMConfig(embed_dim=8, hidden=(16, 8), init_std=0.3, **config))
    model.set_item_counts(data.item_counts)
    return model.eval(), data.train[torch.arange(rows)]


# -- equations ------------------------------------------------------------------------------------
def test_log_q_correction_subtracts_exactly_log_q_from_each_column():
    """Eq. (5): logits[i, j] = <u_i, v_j> / t - log q_j, duplicates of row i's item masked."""
    gen = torch.Generator().manual_seed(0)
    user, item = torch.randn(5, 3, generator=gen), torch.randn(5, 3, generator=gen)
    ids = torch.tensor([4, 7, 4, 2, 9])  # rows 0 and 2 share item 4
    counts = torch.tensor([0.0, 0, 3, 0, 10, 0, 0, 1, 0, 6])
    lq = log_q(counts)
    assert torch.allclose(lq[ids].exp(), counts[ids] / counts.sum())
    t = 0.5
    loss = in_batch_softmax(user, item, ids, temperature=t, item_log_q=lq[ids])
    expected = 0.0
    for i in range(5):  # by hand: one softmax per row over the batch's columns
        logits = [
            float(user[i] @ item[j]) / t - float(lq[ids[j]])
            for j in range(5)
            if j == i or ids[j] != ids[i]
        ]
        target = [j for j in range(5) if j == i or ids[j] != ids[i]].index(i)
        expected += -(logits[target] - torch.logsumexp(torch.tensor(logits), 0).item())
    assert loss.item() == pytest.approx(expected / 5, rel=1e-5)


def test_the_model_loss_is_the_corrected_in_batch_softmax_of_its_towers(data):
    model, batch = model_and_batch(data)
    with torch.no_grad():
        u, v = model.user_embedding(batch), model.item_embedding(batch)
        ids = batch["item_ids"]
        logits = u @ v.T / 0.05 - log_q(data.item_counts)[ids][None, :]
        same = (ids[:, None] == ids[None, :]) & ~torch.eye(len(ids), dtype=torch.bool)
        expected = F.cross_entropy(logits.masked_fill(same, float("-inf")), torch.arange(len(ids)))
        assert model.loss(batch).item() == pytest.approx(expected.item(), rel=1e-5)


def test_with_uniform_counts_the_correction_changes_nothing(data):
    """Equal q_j subtract the same constant from every logit: the softmax does not move."""
    corrected, batch = model_and_batch(data)
    corrected.set_item_counts(torch.ones(data.num_items))
    plain, _ = model_and_batch(data, log_q=False)
    with torch.no_grad():
        assert corrected.loss(batch).item() == pytest.approx(plain.loss(batch).item(), rel=1e-6)
    # and with the real (skewed) counts it does move
    skewed, _ = model_and_batch(data)
    with torch.no_grad():
        assert abs(skewed.loss(batch).item() - plain.loss(batch).item()) > 1e-3


def test_normalize_gives_unit_vectors_and_can_be_turned_off(data):
    model, batch = model_and_batch(data)
    with torch.no_grad():
        for out in (model.user_embedding(batch), model.item_embedding(dict(data.items))):
            assert torch.allclose(out.norm(dim=-1), torch.ones(out.shape[0]), atol=1e-5)
        raw, _ = model_and_batch(data, normalize=False)
        norms = raw.user_embedding(batch).norm(dim=-1)
        assert not torch.allclose(norms, torch.ones_like(norms), atol=1e-3)


def test_the_towers_are_independent(data):
    """Changing every item feature leaves user vectors alone, and the other way round."""
    model, batch = model_and_batch(data)
    shuffled = dict(batch)
    for name in ("item_ids", "item_category", "item_brand", "item_price_bucket"):
        shuffled[name] = batch[name].flip(0)
    with torch.no_grad():
        assert torch.equal(model.user_embedding(batch), model.user_embedding(shuffled))
        assert not torch.equal(model.item_embedding(batch), model.item_embedding(shuffled))
        other = dict(
            batch, history_ids=batch["history_ids"].flip(0), user_ids=batch["user_ids"].flip(0)
        )
        assert torch.equal(model.item_embedding(batch), model.item_embedding(other))
    assert set(model.user_tower.fields).isdisjoint(model.item_tower.fields)


def test_bpr_compares_each_row_with_the_previous_rows_item_and_skips_accidental_hits(data):
    model, batch = model_and_batch(data, loss="bpr", log_q=False, temperature=0.5)
    batch = {k: v[:4] for k, v in batch.items()}
    batch["item_ids"] = torch.tensor([3, 3, 5, 8])  # row 1's neighbour (row 0) has its item
    with torch.no_grad():
        u, v = model.user_embedding(batch), model.item_embedding(batch)
        pos = (u * v).sum(-1) / 0.5
        neg = (u * v.roll(1, 0)).sum(-1) / 0.5
        keep = torch.tensor([True, False, True, True])
        expected = -F.logsigmoid(pos - neg)[keep].mean()
        assert model.loss(batch).item() == pytest.approx(expected.item(), rel=1e-5)
        batch["item_ids"] = torch.full((4,), 3)  # every pair an accidental hit
        assert model.loss(batch).item() == 0.0


# -- bad inputs and configs -----------------------------------------------------------------------
def test_bad_batches_are_batch_errors_naming_the_feature(data):
    model, batch = model_and_batch(data)
    with pytest.raises(BatchError, match="history_ids"):
        model.user_embedding({k: v for k, v in batch.items() if k != "history_ids"})
    with pytest.raises(BatchError, match="item_brand.*outside the vocabulary"):
        model.item_embedding(dict(batch, item_brand=batch["item_brand"] + 1000))
    with pytest.raises(BatchError, match="user_ids.*integer"):
        model.loss(dict(batch, user_ids=batch["user_ids"].float()))


def test_log_q_without_counts_says_what_to_call(data):
    model = DSSM(data.schema, DSSMConfig(embed_dim=4, hidden=(4,)))
    with pytest.raises(RuntimeError, match="set_item_counts"):
        model.loss(data.train[torch.arange(8)])
    with pytest.raises(ValueError, match="one count per item id"):
        model.set_item_counts(torch.ones(3))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(hidden=()), "hidden needs at least one width"),
        (dict(temperature=0.0), "temperature must be a positive number"),
        (dict(loss="bpr"), "set log_q=False with loss='bpr'"),
        (dict(dropout=1.0), "dropout is a probability"),
        (dict(activation="swish"), "activation must be one of"),
    ],
)
def test_impossible_configs_are_refused_in_plain_words(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        DSSMConfig(**kwargs)


def test_features_on_the_wrong_side_are_refused(data):
    with pytest.raises(ValueError, match="must be a user-side feature"):
        DSSM(data.schema, DSSMConfig(user_features=("item_ids",)))
    with pytest.raises(ValueError, match="must be an item_\\* feature"):
        DSSM(data.schema, DSSMConfig(item_features=("user_ids",)))


# -- the docs snippet (learning test) and the benchmark's smoke run -------------------------------
def test_try_it_snippet_beats_popularity(capsys):
    """DSSM, 2 epochs on the synthetic clicks, retrieves the next item better than popularity."""
    runpy.run_path(str(REPO / "docs" / "snippets" / "dssm_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "users ranked: 596, items each: 300" in out
    found = re.findall(r"^(DSSM|popularity)\s+HR@10 = ([\d.]+)\s+NDCG@10 = ([\d.]+)", out, re.M)
    scores = {name: (float(hr), float(ndcg)) for name, hr, ndcg in found}
    assert scores["DSSM"][0] > scores["popularity"][0] + 0.04, out  # seed 0: 0.56 vs 0.46
    assert scores["DSSM"][1] > scores["popularity"][1] + 0.04, out
    assert "unit vectors: True" in out


def test_benchmark_quick_run_writes_a_complete_result(tmp_path, monkeypatch):
    path = REPO / "experiments" / "recall_benchmark.py"
    spec = importlib.util.spec_from_file_location("recall_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "recall_benchmark", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    (written,) = module.main(["--model", "dssm", "--quick", "--quiet", "--seeds", "0",
                              "--out", str(tmp_path)])  # fmt: skip
    result = Result.from_dict(json.loads(Path(written).read_text(encoding="utf-8")))
    assert result.model == "dssm" and result.dataset == "synthetic"
    assert {"hr@10", "ndcg@10"} <= set(result.metrics)
    assert all(0.0 <= result.metrics[k] <= 1.0 for k in ("hr@10", "ndcg@10"))
    assert "--model dssm" in result.command and result.seeds == [0]
    assert result.config["model"]["log_q"] is True


def test_benchmark_reports_seen_filtered_metrics_on_unfiltered_protocols(tmp_path, monkeypatch):
    # Beauty is scored without filtering earlier items (TIGER's protocol); the script also reports
    # the filtered metrics. Filtering never removes the target, so it can only lift a hit rate.
    path = REPO / "experiments" / "recall_benchmark.py"
    spec = importlib.util.spec_from_file_location("recall_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "recall_benchmark", module)
    spec.loader.exec_module(module)
    (written,) = module.main(["--model", "dssm", "--dataset", "beauty", "--quick", "--quiet",
                              "--seeds", "0", "--out", str(tmp_path)])  # fmt: skip
    metrics = json.loads(Path(written).read_text(encoding="utf-8"))["metrics"]
    assert {"hr@10", "filtered_hr@10", "filtered_ndcg@10"} <= set(metrics)
    assert metrics["filtered_hr@10"] >= metrics["hr@10"]
    assert metrics["filtered_hr@10"] > metrics["hr@10"]  # the synthetic users do re-rank seen items
