"""YouTube DNN: sampled softmax vs full softmax, accidental hits, history padding, shared
embeddings, bad inputs, the try-it snippet (the learning test) and the benchmark's smoke run.

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
from recnotes.recall.youtubednn import YoutubeDNN, YoutubeDNNConfig
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


def model_and_batch(data, rows: int = 24, **config) -> tuple[YoutubeDNN, dict]:
    torch.manual_seed(0)
    settings = dict(embed_dim=8, hidden=(16, 8), num_negatives=10, init_std=0.3)
    model = YoutubeDNN(data.schema, YoutubeDNNConfig(**{**settings, **config}))
    with torch.no_grad():  # trained-looking output vectors (the ReLU tower keeps u >= 0)
        model.item_vectors.weight.normal_(0.0, 0.5)
    return model.eval(), data.train[torch.arange(rows)]


# -- equations ------------------------------------------------------------------------------------
def test_sampled_softmax_over_every_item_is_the_full_softmax(data):
    """Eq. (4) with all N - 1 items as negatives is Eq. (3)'s cross-entropy over the catalogue."""
    model, batch = model_and_batch(data)
    every_item = torch.arange(1, data.num_items)
    with torch.no_grad():
        sampled = model.loss(batch, negative_ids=every_item)
        u = model.user_embedding(batch)  # (B, D)
        logits = u @ model.item_embedding({"item_ids": every_item}).T  # (B, N - 1)
        full = F.cross_entropy(logits, batch["item_ids"] - 1)  # column j is item j + 1
    assert sampled.item() == pytest.approx(full.item(), rel=1e-5)


def test_a_negative_equal_to_the_positive_is_masked(data):
    """Accidental hits: adding the rows' own item to the negatives leaves the loss unchanged."""
    model, batch = model_and_batch(data)
    batch = dict(batch, item_ids=torch.full_like(batch["item_ids"], 7))  # every row's next item
    others = torch.tensor([1, 2, 3, 9, 12])
    with torch.no_grad():
        clean = model.loss(batch, negative_ids=others)
        with_hits = model.loss(batch, negative_ids=torch.cat([others, torch.tensor([7, 7])]))
        u = model.user_embedding(batch)
        logits = u @ model.item_vectors.weight[[7, *others.tolist(), 7, 7]].T  # hits counted
        unmasked = F.cross_entropy(logits, torch.zeros(len(u), dtype=torch.long))
    assert with_hits.item() == pytest.approx(clean.item(), rel=1e-6)
    assert unmasked.item() > clean.item() + 1e-3


def test_history_padding_does_not_change_the_user_vector(data):
    """Eq. (1): the history is averaged over real items only, however much padding surrounds it."""
    model, batch = model_and_batch(data)
    users = {k: v[:4] for k, v in batch.items() if not k.startswith("item_")}
    users["history_ids"] = torch.tensor([[0, 0, 5, 6], [0, 0, 0, 9], [3, 4, 5, 6], [0, 0, 0, 0]])
    wider = dict(users, history_ids=F.pad(users["history_ids"], (2, 0)))  # two more padding
    with torch.no_grad():
        torch.testing.assert_close(model.user_embedding(users), model.user_embedding(wider))
        model.embedding.tables["item_ids"].weight[0].fill_(9.0)  # padding row is never read
        torch.testing.assert_close(model.user_embedding(users), model.user_embedding(wider))
        e = model.embedding.tables["item_ids"].weight
        pooled = model.embedding(users)[:, model.fields.index("history_ids")]
        torch.testing.assert_close(pooled[0], (e[5] + e[6]) / 2)
        torch.testing.assert_close(pooled[3], torch.zeros(8))  # no history: zeros


def test_item_vectors_are_the_softmax_weights_or_the_history_table_when_shared(data):
    model, batch = model_and_batch(data)
    ids = batch["item_ids"]
    assert torch.equal(model.item_embedding(batch), model.item_vectors.weight[ids])
    assert model.item_vectors is not model.embedding.tables["item_ids"]
    shared, _ = model_and_batch(data, share_embeddings=True, hidden=(16, 8))
    assert shared.item_vectors is shared.embedding.tables["item_ids"]
    n_shared = sum(p.numel() for p in shared.parameters())
    n_separate = sum(p.numel() for p in model.parameters())
    assert n_separate - n_shared == data.num_items * 8  # one table fewer


def test_the_user_vector_reads_no_item_feature(data):
    model, batch = model_and_batch(data)
    changed = dict(batch, item_ids=batch["item_ids"].flip(0), item_brand=batch["item_brand"] * 0)
    with torch.no_grad():
        assert torch.equal(model.user_embedding(batch), model.user_embedding(changed))


def test_fresh_negatives_are_drawn_on_every_call_and_never_padding(data, monkeypatch):
    model, batch = model_and_batch(data, num_negatives=500)
    drawn = []
    original = model.item_vectors.forward
    monkeypatch.setattr(
        model.item_vectors, "forward", lambda ids: drawn.append(ids) or original(ids)
    )
    torch.manual_seed(3)
    model.loss(batch)
    model.loss(batch)
    negatives = [d for d in drawn if d.shape == (500,)]
    assert len(negatives) == 2 and not torch.equal(negatives[0], negatives[1])
    both = torch.cat(negatives)
    assert int(both.min()) >= 1 and int(both.max()) < data.num_items


# -- bad inputs and configs -----------------------------------------------------------------------
def test_bad_batches_are_batch_errors_naming_the_feature(data):
    model, batch = model_and_batch(data)
    with pytest.raises(BatchError, match="history_ids"):
        model.user_embedding({k: v for k, v in batch.items() if k != "history_ids"})
    with pytest.raises(BatchError, match="item_ids.*outside the vocabulary"):
        model.item_embedding({"item_ids": torch.tensor([1, data.num_items])})
    with pytest.raises(BatchError, match="user_gender.*integer"):
        model.loss(dict(batch, user_gender=batch["user_gender"].float()))
    with pytest.raises(BatchError, match="negative_ids"):
        model.loss(batch, negative_ids=torch.tensor([0, 1]))  # 0 is padding, not an item


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(hidden=()), "hidden needs at least one width"),
        (dict(num_negatives=0), "num_negatives must be at least 1"),
        (dict(temperature=-1.0), "temperature must be a positive number"),
        (
            dict(share_embeddings=True, embed_dim=16),
            "share_embeddings needs embed_dim == hidden[-1]",
        ),
    ],
)
def test_impossible_configs_are_refused_in_plain_words(kwargs, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        YoutubeDNNConfig(**kwargs)


def test_a_user_side_without_the_history_is_refused(data):
    with pytest.raises(ValueError, match="must include 'history_ids'"):
        YoutubeDNN(data.schema, YoutubeDNNConfig(user_features=("user_ids",)))


# -- the docs snippet (learning test) and the benchmark's smoke run -------------------------------
def test_try_it_snippet_beats_popularity(capsys):
    """YouTube DNN, 2 epochs on the synthetic clicks, retrieves the next item better than popularity."""
    runpy.run_path(str(REPO / "docs" / "snippets" / "youtubednn_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "users ranked: 596, items each: 300" in out
    found = re.findall(
        r"^(YouTube DNN|popularity)\s+HR@10 = ([\d.]+)\s+NDCG@10 = ([\d.]+)", out, re.M
    )
    scores = {name: (float(hr), float(ndcg)) for name, hr, ndcg in found}
    assert scores["YouTube DNN"][0] > scores["popularity"][0] + 0.03, out  # seed 0: 0.54 vs 0.46
    assert scores["YouTube DNN"][1] > scores["popularity"][1] + 0.04, out  # 0.41 vs 0.32
    top = re.search(r"first test user, top-5 item ids: \[([\d, ]+)\]", out)
    assert top and len(top.group(1).split(",")) == 5


def test_benchmark_quick_run_writes_a_complete_result(tmp_path, monkeypatch):
    path = REPO / "experiments" / "recall_benchmark.py"
    spec = importlib.util.spec_from_file_location("recall_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "recall_benchmark", module)  # dataclasses look it up
    spec.loader.exec_module(module)
    (written,) = module.main(["--model", "youtubednn", "--quick", "--quiet", "--seeds", "0",
                              "--out", str(tmp_path)])  # fmt: skip
    result = Result.from_dict(json.loads(Path(written).read_text(encoding="utf-8")))
    assert result.model == "youtubednn" and result.dataset == "synthetic"
    assert {"hr@10", "ndcg@10"} <= set(result.metrics)
    assert all(0.0 <= result.metrics[k] <= 1.0 for k in ("hr@10", "ndcg@10"))
    assert "--model youtubednn" in result.command and result.seeds == [0]
    assert result.config["model"]["num_negatives"] == 500  # the settings table, not the default
