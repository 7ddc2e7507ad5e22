"""STAMP: the attention memory, the trilinear score, padding, learning, bad input."""

from __future__ import annotations

import pytest
import torch

from recnotes.data import BatchError
from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall.stamp import STAMP, STAMPConfig
from recnotes.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def data():
    return retrieval_synthetic(num_users=600, num_items=300, max_len=20, seed=0)


def model_for(data) -> STAMP:
    torch.manual_seed(0)
    return STAMP(data.schema, STAMPConfig(embed_dim=8, init_std=0.1)).eval()


def test_user_vector_follows_the_equations(data):
    model = model_for(data)
    history = torch.tensor([[0, 0, 4, 7, 2]])
    with torch.no_grad():
        x = model.item(torch.tensor([4, 7, 2]))  # the three real items
        x_t, m_s = x[-1], x.mean(0)
        alpha = model.w0(torch.sigmoid(model.w1(x) + model.w2(x_t) + model.w3(m_s))).squeeze(-1)
        m_a = (alpha[:, None] * x).sum(0)
        expected = torch.tanh(model.mlp_s(m_a)) * torch.tanh(model.mlp_t(x_t))
        got = model.user_embedding({"history_ids": history})[0]
    torch.testing.assert_close(got, expected)


def test_the_score_is_the_trilinear_product(data):
    model = model_for(data)
    batch = {"history_ids": torch.tensor([[0, 3, 5]]), "item_ids": torch.tensor([6])}
    with torch.no_grad():
        user = model.user_embedding(batch)
        logits = user @ model.item.weight[1:].T
        loss = torch.nn.functional.cross_entropy(logits, torch.tensor([5]))
        torch.testing.assert_close(model.loss(batch), loss)


def test_left_padding_is_invisible(data):
    model = model_for(data)
    with torch.no_grad():
        a = model.user_embedding({"history_ids": torch.tensor([[0, 0, 3, 9]])})
        b = model.user_embedding({"history_ids": torch.tensor([[0, 0, 0, 0, 0, 3, 9]])})
    torch.testing.assert_close(a, b)


def test_learns_beyond_popularity(data):
    torch.manual_seed(0)
    model = STAMP(data.schema, STAMPConfig(embed_dim=32, init_std=0.05))
    Trainer(model, TrainConfig(epochs=3, batch_size=256, lr=1e-2, progress=False,
                               device="cpu")).fit(data.train)  # fmt: skip
    model.eval()
    with torch.no_grad():
        users = model.user_embedding(data.valid.users)
        items = model.item_embedding(data.items)
    ours = full_ranking(users, items, data.valid.targets, None,
                        exclude_items=torch.tensor([0]), ks=(10,))["ndcg@10"]  # fmt: skip
    pop = full_ranking(torch.ones(len(data.valid), 1), data.item_counts[:, None],
                       data.valid.targets, None, exclude_items=torch.tensor([0]),
                       ks=(10,))["ndcg@10"]  # fmt: skip
    assert ours > pop + 0.02, (ours, pop)


def test_bad_input_is_named(data):
    model = model_for(data)
    with pytest.raises(BatchError, match="history_ids"):
        model.user_embedding({"history_ids": torch.tensor([[3, 0]])})  # empty last click
    with pytest.raises(BatchError, match="history_ids"):
        model.user_embedding({"item_ids": torch.tensor([1])})
    with pytest.raises(BatchError, match="item_ids"):
        model.loss({"history_ids": torch.tensor([[1, 2]])})
    with pytest.raises(ValueError, match="embed_dim"):
        STAMPConfig(embed_dim=0)
