"""Shared blocks: MLP and FeatureEmbedding."""

import pytest
import torch
from torch import nn

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


def test_fm_identity_equals_the_explicit_pairwise_sum():
    from recnotes.layers import bi_interaction, fm_interaction, pair_indices

    v = torch.randn(5, 6, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    explicit = torch.zeros(5, 3, dtype=torch.float64)
    for i in range(6):
        for j in range(i + 1, 6):
            explicit += v[:, i] * v[:, j]
    torch.testing.assert_close(bi_interaction(v), explicit)
    torch.testing.assert_close(fm_interaction(v), explicit.sum(-1))
    i, j = pair_indices(6)
    assert len(i) == 15 and bool((i < j).all())
    torch.testing.assert_close((v[:, i] * v[:, j]).sum(dim=(1, 2)), explicit.sum(-1))


def test_features_linear_adds_one_weight_per_id_and_ignores_padding():
    from recnotes.data import Feature, Schema
    from recnotes.layers import FeaturesLinear

    schema = Schema([
        Feature("item_ids", "sparse", vocab_size=5),
        Feature("history_ids", "sequence", vocab_size=5, max_len=3, shared_with="item_ids"),
        Feature("price", "dense"),
    ])
    lin = FeaturesLinear(schema)
    with torch.no_grad():
        lin.weights["item_ids"].weight[:, 0] = torch.tensor([0.0, 1.0, 2.0, 3.0, 4.0])
        lin.dense_linear.weight.fill_(10.0)
        lin.bias.fill_(0.5)
    batch = {"item_ids": torch.tensor([2, 4]), "history_ids": torch.tensor([[0, 1, 3], [0, 0, 0]]),
             "price": torch.tensor([1.0, -1.0])}
    # row 0: 0.5 + w[2] + (w[1] + w[3]) + 10 * 1;  row 1: 0.5 + w[4] + nothing - 10
    assert lin(batch).tolist() == [0.5 + 2 + 4 + 10, 0.5 + 4 - 10]


@pytest.mark.parametrize("width", [1, 5])
@pytest.mark.parametrize("shape", [(7,), (4096, 3)])  # below and above nn.Embedding's 3000-id switch
def test_embedding_rows_equals_nn_embedding_values_and_gradients(shape, width):
    from recnotes.layers import embedding_rows

    torch.manual_seed(0)
    table = nn.Embedding(40, width, padding_idx=0)
    ids = torch.randint(0, 40, shape)
    ids.view(-1)[:3] = 0  # padding
    ids.view(-1)[3:6] = 7  # one id repeated: its gradients add up
    grad = torch.randn(*shape, width)
    expected_out = table(ids)
    expected_out.backward(grad)
    expected_grad, table.weight.grad = table.weight.grad, None
    out = embedding_rows(table, ids)
    out.backward(grad)
    assert out.shape == (*shape, width)
    assert torch.equal(out, expected_out)
    assert torch.allclose(table.weight.grad, expected_grad, atol=1e-6)
    assert table.weight.grad[0].abs().sum() == 0  # the padding row learns nothing
    manual = torch.zeros(40, width).index_add_(0, ids.view(-1), grad.view(-1, width))
    assert torch.allclose(table.weight.grad[7], manual[7], atol=1e-6)


def test_embedding_rows_falls_back_to_the_table_when_row_0_is_not_padding():
    from recnotes.layers import embedding_rows

    table = nn.Embedding(6, 2)  # no padding_idx: row 0 is an ordinary row and must learn
    ids = torch.tensor([0, 0, 3])
    embedding_rows(table, ids).sum().backward()
    assert torch.equal(table.weight.grad[0], torch.full((2,), 2.0))


def test_embedding_rows_supports_second_order_gradients():
    from recnotes.layers import embedding_rows

    torch.manual_seed(0)
    ids = torch.randint(0, 30, (4096, 2))  # above the 3000-id switch
    grads = []
    for lookup in (lambda t, i: t(i), embedding_rows):
        torch.manual_seed(1)
        table = nn.Embedding(30, 3, padding_idx=0)
        loss = lookup(table, ids).pow(3).sum()
        (first,) = torch.autograd.grad(loss, table.weight, create_graph=True)
        first.pow(2).sum().backward()  # a gradient of the gradient, as MAML takes
        grads.append(table.weight.grad)
    assert torch.allclose(grads[0], grads[1], rtol=1e-4, atol=1e-4)
    assert grads[1].abs().sum() > 0


@pytest.mark.parametrize("num_fields", [2, 3, 7])
def test_pair_products_equal_indexed_products_values_and_gradients(num_fields):
    from recnotes.layers import pair_indices, pair_products

    torch.manual_seed(num_fields)
    v = torch.randn(5, num_fields, 4, dtype=torch.float64, requires_grad=True)
    i, j = pair_indices(num_fields)
    expected = v[:, i] * v[:, j]
    got = pair_products(v)
    assert got.shape == (5, num_fields * (num_fields - 1) // 2, 4)
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    upstream = torch.randn_like(expected)
    (want,) = torch.autograd.grad(expected, v, upstream)
    (have,) = torch.autograd.grad(pair_products(v), v, upstream)
    torch.testing.assert_close(have, want)
    assert torch.autograd.gradcheck(pair_products, (v,))


def test_pair_products_rejects_fewer_than_two_fields_or_a_wrong_rank():
    from recnotes.layers import pair_products

    with pytest.raises(ValueError, match="F >= 2"):
        pair_products(torch.randn(3, 1, 4))
    with pytest.raises(ValueError, match=r"got shape \(3, 4\)"):
        pair_products(torch.randn(3, 4))
