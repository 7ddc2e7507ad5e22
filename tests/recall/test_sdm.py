"""SDM: the equations of the note, padding, learning on the synthetic data, bad inputs, the try-it
snippet and the benchmark script's smoke run.

The contract test (tests/test_contract.py) covers shapes, gradients, determinism, row independence
and the state-dict round trip.
"""

from __future__ import annotations

import importlib.util
import json
import re
import runpy
import sys
from functools import lru_cache
from pathlib import Path

import pytest
import torch

from recnotes.data import BatchError, Feature, Schema
from recnotes.data.retrieval import retrieval_synthetic
from recnotes.recall.sdm import SDM, SDMConfig, masked_softmax
from recnotes.results import Result

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    """These models are small: one thread is fastest, and kind to a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@lru_cache(maxsize=1)
def small_data():
    return retrieval_synthetic(num_users=60, num_items=40, max_len=8, seed=0)


def trained_like(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Move every parameter away from its initialisation, as training would, then eval mode."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
            if p.dim() == 2 and p.shape[0] == model.num_items:
                p[0].zero_()  # the padding row stays zero, as padding_idx keeps it
    return model.eval()


def model_and_users(**config) -> tuple[SDM, dict[str, torch.Tensor]]:
    data = small_data()
    torch.manual_seed(0)
    defaults = {"embed_dim": 8, "short_len": 3, "num_heads": 2, "num_negatives": 10}
    model = trained_like(SDM(data.schema, SDMConfig(**{**defaults, **config})))
    return model, dict(data.valid.users)


def with_history(users: dict[str, torch.Tensor], history: list[list[int]]) -> dict:
    rows = len(history)
    out = {k: v[:rows].clone() for k, v in users.items() if k != "history_ids"}
    out["history_ids"] = torch.tensor(history)
    return out


# -- equations --------------------------------------------------------------------------------------
def test_masked_softmax_is_the_softmax_of_the_kept_scores():
    scores = torch.tensor([[0.3, -1.2, 2.0, 0.7]])
    mask = torch.tensor([[False, True, True, True]])
    expected = torch.softmax(torch.tensor([-1.2, 2.0, 0.7]), dim=0)
    out = masked_softmax(scores, mask)
    assert out[0, 0] == 0
    torch.testing.assert_close(out[0, 1:], expected)


def test_gate_lies_in_0_1_and_fuses_by_eq_8():
    model, users = model_and_users()
    with torch.no_grad():
        parts = model.encode(users)
    gate = parts["gate"]
    assert ((gate > 0) & (gate < 1)).all()
    # Eq. (7) written out with the weights, and Eq. (8)
    w1, w2, w3 = model.gate_user.weight, model.gate_short.weight, model.gate_long.weight
    expected_gate = torch.sigmoid(
        parts["e_u"] @ w1.T + parts["s"] @ w2.T + parts["p"] @ w3.T + model.gate_long.bias
    )
    torch.testing.assert_close(gate, expected_gate)
    torch.testing.assert_close(parts["o"], (1 - gate) * parts["p"] + gate * parts["s"])
    assert not torch.allclose(parts["o"], parts["s"]) and not torch.allclose(parts["o"], parts["p"])


def test_attention_weights_sum_to_one_over_real_items_and_ignore_padding():
    model, users = model_and_users()
    history = users["history_ids"]  # (U, 8): short part is the last 3, long part the first 5
    with torch.no_grad():
        parts = model.encode(users)
    for weights, ids in ((parts["short_weights"], history[:, -3:]), (parts["long_weights"],
                                                                     history[:, :-3])):  # fmt: skip
        real = ids != 0
        assert (weights[~real] == 0).all(), "padding must get no attention"
        has_items = real.any(dim=1)
        torch.testing.assert_close(weights[has_items].sum(dim=1), torch.ones(int(has_items.sum())))
        assert (weights[~has_items].sum(dim=1) == 0).all()


def test_left_padding_does_not_change_the_user_vector():
    """The same history, left-padded to 8 or to 6 positions, gives the same vector."""
    model, users = model_and_users()
    long_pad = with_history(users, [[0, 0, 0, 4, 9, 2, 7, 5], [0, 0, 0, 0, 0, 0, 3, 8]])
    short_pad = dict(long_pad, history_ids=long_pad["history_ids"][:, 2:])  # (2, 6)
    with torch.no_grad():
        torch.testing.assert_close(model.user_embedding(long_pad), model.user_embedding(short_pad))


def test_lstm_starts_at_the_first_real_item():
    """Eq. (2) on a padded session equals the LSTM cell run over the real items alone."""
    model, _ = model_and_users()
    x = torch.randn(1, 3, 8)
    mask = torch.tensor([[False, True, True]])
    with torch.no_grad():
        states = model.lstm(x, mask)
        h = c = torch.zeros(1, 8)
        for t in (1, 2):
            h, c = model.lstm.cell(x[:, t], (h, c))
    torch.testing.assert_close(states[:, -1], h)
    assert (states[:, 0] == 0).all()


def test_all_padding_parts_give_finite_vectors():
    """A history shorter than the session leaves the long part all padding; an empty history
    leaves both parts all padding. Neither may produce NaN (softmax over nothing)."""
    model, users = model_and_users()
    batch = with_history(users, [[0, 0, 0, 0, 0, 0, 3, 8], [0] * 8])
    with torch.no_grad():
        parts = model.encode(batch)
    for key in ("o", "s", "p", "gate"):
        assert torch.isfinite(parts[key]).all(), key
    assert (parts["long_weights"] == 0).all()
    torch.testing.assert_close(parts["p"][0], torch.tanh(model.long_proj.bias))  # z = 0
    assert (parts["s"][1] == 0).all()
    # and gradients stay finite through the all-padding parts
    model.train()
    loss = model.loss({**batch, "item_ids": torch.tensor([5, 6])})
    loss.backward()
    assert all(torch.isfinite(p.grad).all() for p in model.parameters() if p.grad is not None)


def test_history_no_longer_than_the_session_works():
    model, users = model_and_users(short_len=8)
    with torch.no_grad():
        parts = model.encode(users)
    assert parts["long_weights"].shape == (len(users["user_ids"]), 0)
    assert torch.isfinite(parts["o"]).all()


def test_item_vectors_pool_side_features_and_negatives_use_them():
    data = small_data()
    model = SDM(data.schema, SDMConfig(embed_dim=8, short_len=3, item_features=True))
    vectors = model.item_embedding(data.items)
    ids_only = model.items.embed("item_ids", data.items["item_ids"])
    assert vectors.shape == ids_only.shape and not torch.allclose(vectors, ids_only)
    with pytest.raises(RuntimeError, match="set_item_table"):
        model.loss(data.train[:4])
    model.set_item_table(data.items)
    assert torch.isfinite(model.loss(data.train[:4]))


# -- bad input ------------------------------------------------------------------------------------
def test_bad_batches_raise_a_named_batch_error():
    model, users = model_and_users()
    with pytest.raises(BatchError, match="history_ids"):
        model.user_embedding({k: v for k, v in users.items() if k != "history_ids"})
    too_big = dict(users, history_ids=users["history_ids"].clone())
    too_big["history_ids"][0, -1] = 41  # 40 items: ids 0..40
    with pytest.raises(BatchError, match="history_ids.*outside the vocabulary"):
        model.user_embedding(too_big)
    with pytest.raises(BatchError, match="item_ids.*integer"):
        model.item_embedding({"item_ids": torch.tensor([1.0, 2.0])})
    train = small_data().train[:4]
    with pytest.raises(BatchError, match="item_ids"):
        model.loss({k: v for k, v in train.items() if k != "item_ids"})


def test_bad_configs_and_schemas_are_rejected():
    with pytest.raises(ValueError, match="divisible by num_heads"):
        SDMConfig(embed_dim=10, num_heads=3)
    with pytest.raises(ValueError, match="short_len"):
        SDMConfig(short_len=0)
    with pytest.raises(ValueError, match="temperature"):
        SDMConfig(temperature=0.0)
    bare = Schema(
        [
            Feature("user_ids", "sparse", vocab_size=5),
            Feature("history_ids", "sequence", vocab_size=9, max_len=4, shared_with="item_ids"),
            Feature("item_ids", "sparse", vocab_size=9),
        ]
    )
    assert SDM(bare).profile_fields == ["user_ids"]
    with pytest.raises(ValueError, match="profile is empty"):
        SDM(bare, SDMConfig(use_user_ids=False))
    with pytest.raises(ValueError, match="history_ids"):
        SDM(Schema([Feature("user_ids", "sparse", vocab_size=5)]))


# -- the page's snippet and the reproduction script --------------------------------------------------
def test_try_it_snippet_learns_beyond_popularity(capsys):
    """The learning test and the snippet test in one run (one training on the synthetic data):
    full-ranking NDCG@10 of the test items must beat ranking by training counts by a margin."""
    runpy.run_path(str(REPO / "docs" / "snippets" / "sdm_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    ours = re.search(r"SDM\s+HR@10 = ([0-9.]+)\s+NDCG@10 = ([0-9.]+)", out)
    popular = re.search(r"popularity\s+HR@10 = ([0-9.]+)\s+NDCG@10 = ([0-9.]+)", out)
    assert float(ours.group(1)) > float(popular.group(1))
    assert float(ours.group(2)) > float(popular.group(2)) + 0.02, out
    top = re.search(r"top-5 item ids: \[([0-9, ]+)\]", out).group(1).split(",")
    assert len(top) == 5 and "0" not in [t.strip() for t in top]
    gate = float(re.search(r"mean gate G = ([0-9.]+)", out).group(1))
    assert 0 < gate < 1


def test_benchmark_quick_run_writes_a_result(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location(
        "recall_benchmark", REPO / "experiments" / "recall_benchmark.py"
    )
    script = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "recall_benchmark", script)
    spec.loader.exec_module(script)
    assert "sdm" in script.ML1M and "sdm" in script.BEAUTY
    script.main(["--model", "sdm", "--quick", "--seeds", "0", "--quiet", "--out", str(tmp_path)])
    path = tmp_path / "synthetic" / "sdm.json"
    raw = json.loads(path.read_text())
    result = Result.from_dict(raw)
    assert result.model == "sdm" and result.protocol == "synthetic-loo-full"
    assert 0.0 <= result.metrics["ndcg@10"] <= result.metrics["hr@10"] <= 1.0
    assert raw["command"].startswith("python experiments/recall_benchmark.py --model sdm")
    assert raw["seeds"] == [0] and raw["config"]["model"]["embed_dim"] == 8
