"""GRU4Rec: causality, padding, both losses, learning on the synthetic data, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recnotes.data import BatchError
from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall.gru4rec import GRU4Rec, GRU4RecConfig
from recnotes.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def data():
    return retrieval_synthetic(num_users=600, num_items=300, max_len=20, seed=0)


def model_for(data, **config) -> GRU4Rec:
    torch.manual_seed(0)
    return GRU4Rec(data.schema, GRU4RecConfig(embed_dim=8, hidden_dim=12, **config)).eval()


def test_position_t_sees_nothing_after_t(data):
    model = model_for(data)
    history = data.test.users["history_ids"][:8].clone()
    changed = history.clone()
    changed[:, 12:] = torch.randint(1, 300, changed[:, 12:].shape)
    with torch.no_grad():
        before, after = model.sequence_output(history), model.sequence_output(changed)
    torch.testing.assert_close(before[:, :12], after[:, :12])
    assert not torch.allclose(before[:, 12:], after[:, 12:])


def test_padding_never_enters_the_recurrence(data):
    model = model_for(data)
    with torch.no_grad():
        out = model.sequence_output(torch.tensor([[0, 0, 0, 5, 9, 7]]))
        plain, _ = model.gru(model.item(torch.tensor([[5, 9, 7]])))  # no padding at all
    torch.testing.assert_close(out[0, 3:], model.output(plain)[0])
    assert torch.all(out[0, :3] == 0)


def test_bpr_scores_each_target_against_the_other_targets(data):
    model = model_for(data, loss="bpr", dropout=0.0)
    batch = data.sequences[:6]
    with torch.no_grad():
        hidden = model.sequence_output(batch["history_ids"])
        mask = batch["target_ids"] > 0
        h, pos = hidden[mask], batch["target_ids"][mask]
        scores = h @ model.item(pos).T
        terms = [
            -F.logsigmoid(scores[i, i] - scores[i, j])
            for i in range(len(pos))
            for j in range(len(pos))
            if pos[j] != pos[i]
        ]
        torch.testing.assert_close(model.loss(batch), torch.stack(terms).mean())


def test_ce_learns_beyond_popularity(data):
    torch.manual_seed(0)
    model = GRU4Rec(data.schema, GRU4RecConfig(embed_dim=32, hidden_dim=64, dropout=0.0))
    Trainer(model, TrainConfig(epochs=9, batch_size=32, lr=1e-2, progress=False,
                               device="cpu")).fit(data.sequences)  # fmt: skip
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
        model.user_embedding({"item_ids": torch.tensor([1])})
    with pytest.raises(BatchError, match="history_ids"):
        model.user_embedding({"history_ids": torch.tensor([[0, 999]])})
    with pytest.raises(BatchError, match="target_ids"):
        model.loss({"history_ids": torch.tensor([[1, 2]]), "target_ids": torch.tensor([[0, 0]])})
    with pytest.raises(ValueError, match="loss"):
        GRU4RecConfig(loss="top1")
