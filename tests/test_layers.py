"""Shared blocks: MLP and FeatureEmbedding."""

import pytest
import torch

from recnotes.data import Feature, Schema
from recnotes.layers import MLP, FeatureEmbedding, masked_mean


def test_mlp_layer_widths_and_errors():
    mlp = MLP(6, [5, 3], out_dim=2, dropout=0.1, batch_norm=True)
    linears = [m for m in mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == [(6, 5), (5, 3), (3, 2)]
    assert mlp(torch.randn(4, 7, 6)).shape == (4, 7, 2)  # batch norm over flattened leading dims
    with pytest.raises(ValueError, match="activation"):
        MLP(3, [2], activation="swishy")
    with pytest.raises(ValueError, match="dropout"):
        MLP(3, [2], dropout=1.0)
    with pytest.raises(ValueError, match="hidden"):
        MLP(3, [0])


def test_masked_mean_ignores_padding_and_handles_empty_rows():
    v = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]])
    mask = torch.tensor([[True, False], [False, False]])
    assert masked_mean(v, mask).tolist() == [[1.0, 2.0], [0.0, 0.0]]


SCHEMA = Schema(
    [
        Feature("user_ids", "sparse", vocab_size=4),
        Feature("item_ids", "sparse", vocab_size=6),
        Feature("history_ids", "sequence", vocab_size=6, max_len=4, shared_with="item_ids"),
        Feature("price", "dense"),
    ]
)


def test_feature_embedding_shares_tables_and_pools_history():
    emb = FeatureEmbedding(SCHEMA, embed_dim=3)
    assert set(emb.tables) == {"user_ids", "item_ids"}
    batch = {
        "user_ids": torch.tensor([1, 2]),
        "item_ids": torch.tensor([4, 5]),
        "history_ids": torch.tensor([[4, 5, 0, 0], [0, 0, 0, 0]]),
    }
    out = emb(batch)
    assert out.shape == (2, 3, 3)
    items = emb.tables["item_ids"].weight
    torch.testing.assert_close(out[0, 2], (items[4] + items[5]) / 2)
    assert torch.equal(out[1, 2], torch.zeros(3))  # an empty history pools to zero
    assert torch.equal(items[0], torch.zeros(3))  # padding row


def test_feature_embedding_rejects_dense_fields():
    with pytest.raises(ValueError, match="only sparse and sequence"):
        FeatureEmbedding(SCHEMA, embed_dim=3, fields=["price"])
