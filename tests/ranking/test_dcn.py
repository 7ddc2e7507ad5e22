"""DCN: the equations of its note, the packed embedding it stacks, learning on synthetic clicks, bad
input and the try-it snippet.

The contract test (tests/test_contract.py) covers shapes, gradients, determinism, row independence
and the state_dict round trip; this file checks what is particular to this model.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

from recnotes.data import BatchError, Feature, Schema
from recnotes.evaluate import evaluate_ctr
from recnotes.layers import PackedEmbedding, masked_mean
from recnotes.ranking import DCN, DCNConfig
from recnotes.ranking.dcn import CrossLayer, tiny_dcn
from recnotes.train import TrainConfig, Trainer, seed_everything

REPO = Path(__file__).resolve().parents[2]


# -- Eq. (2): the cross layer ---------------------------------------------------------------------
def test_one_cross_layer_on_a_worked_two_dimensional_example():
    layer = CrossLayer(2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([0.5, 2.0]))
        layer.bias.copy_(torch.tensor([0.1, -0.2]))
    x0 = torch.tensor([[1.0, 2.0]])
    x = torch.tensor([[3.0, -1.0]])
    # By hand: x^T w = 3 * 0.5 + (-1) * 2 = -0.5, so x0 x^T w = [-0.5, -1.0];
    # + b = [-0.4, -1.2]; + x = [2.6, -2.2].
    torch.testing.assert_close(layer(x0, x), torch.tensor([[2.6, -2.2]]))


def test_cross_layer_equals_the_outer_product_form():
    torch.manual_seed(0)
    layer = CrossLayer(7)
    with torch.no_grad():
        layer.bias.normal_()
    x0, x = torch.randn(2, 5, 7).unbind(0)
    outer = x0.unsqueeze(2) * x.unsqueeze(1)  # x_0 x_l^T: (B, d, d)
    expected = outer @ layer.weight + layer.bias + x  # the paper's formula, literally
    torch.testing.assert_close(layer(x0, x), expected.detach())


def test_the_cross_network_feeds_x0_to_every_layer_and_the_output_reads_both_networks():
    model, batch = tiny_dcn()
    model.eval()
    with torch.no_grad():
        x0 = model.stack(batch)
        x1 = model.cross[0](x0, x0)
        x2 = model.cross[1](x0, x1)
        joined = torch.cat([x2, model.deep(x0)], dim=1)
        assert model.output.in_features == model.input_dim + 4
        torch.testing.assert_close(model(batch), model.output(joined).squeeze(-1))


@pytest.mark.parametrize(
    ("cross", "hidden", "width"), [(0, (8, 4), 4), (2, (), 14)], ids=["deep-only", "cross-only"]
)
def test_either_network_alone(cross, hidden, width):
    model, batch = tiny_dcn()
    model = DCN(model.schema, DCNConfig(embed_dim=4, num_cross_layers=cross, hidden=hidden))
    assert model.output.in_features == width
    assert model(batch).shape == (6,)


# -- Eq. (1): the stacked input and the packed embedding ------------------------------------------
def test_x0_stacks_sparse_fields_then_pooled_sequences_then_dense_features():
    model, batch = tiny_dcn()
    emb = model.embedding
    hist = batch["history_ids"]
    with torch.no_grad():
        x0 = model.stack(batch)
        expected = torch.cat(
            [
                emb.embed("user_ids", batch["user_ids"]),
                emb.embed("item_ids", batch["item_ids"]),
                masked_mean(emb.embed("history_ids", hist), hist != 0),
                batch["context"],
            ],
            dim=1,
        )
    assert model.fields == ["user_ids", "item_ids", "history_ids"]
    torch.testing.assert_close(x0, expected)


def test_packed_embedding_keeps_one_block_of_rows_per_table():
    schema = tiny_dcn()[0].schema
    emb = PackedEmbedding(schema, embed_dim=3)
    assert emb.weight.shape == (1 + 6 + 8, 3)  # padding row + users 1..6 + items 1..8
    users = emb.rows("user_ids", torch.arange(7))
    items = emb.rows("item_ids", torch.arange(9))
    assert users.tolist() == [0, 1, 2, 3, 4, 5, 6]
    assert items.tolist() == [0, 7, 8, 9, 10, 11, 12, 13, 14]
    history = emb.rows("history_ids", torch.arange(9))
    assert torch.equal(history, items)  # shared_with reads the item rows


def test_padding_rows_stay_zero_and_get_no_gradient():
    model, batch = tiny_dcn()
    batch = {**batch, "user_ids": torch.zeros(6, dtype=torch.long)}
    model(batch).sum().backward()
    table = model.embedding.table.weight
    assert torch.equal(table[0], torch.zeros(4)) and torch.equal(table.grad[0], torch.zeros(4))


# -- learning -------------------------------------------------------------------------------------
def test_learns_synthetic_clicks_better_than_item_popularity():
    """The synthetic CTR task is make_synthetic(seed=0).ctr_table() with label click, split 80/10/10."""
    from recnotes.tasks import get_task

    data = get_task("synthetic").build(0)
    seed_everything(0)
    config = DCNConfig(embed_dim=16, num_cross_layers=2, hidden=(64,))
    model = DCN(data.schema, config)
    train = TrainConfig(epochs=2, batch_size=2048, lr=5e-3, label="click", progress=False)
    Trainer(model, train).fit(data.train)
    model.eval()
    with torch.no_grad():
        ours = evaluate_ctr(model(data.test[:]), data.test.columns["click"])["auc"]
    items, clicks = data.train.columns["item_ids"], data.train.columns["click"]
    size = data.schema["item_ids"].vocab_size
    shown = torch.bincount(items, minlength=size).float()
    item_ctr = (torch.bincount(items, weights=clicks, minlength=size) + 1) / (shown + 2)
    test_items = data.test.columns["item_ids"]
    popularity = evaluate_ctr(item_ctr[test_items], data.test.columns["click"])["auc"]
    assert popularity > 0.6  # the baseline itself is informative, so beating it means something
    assert ours > popularity + 0.03, (ours, popularity)


# -- bad input ------------------------------------------------------------------------------------
def test_a_missing_or_misspelt_feature_is_named():
    model, batch = tiny_dcn()
    batch["user_id"] = batch.pop("user_ids")
    with pytest.raises(BatchError, match="'user_ids': missing") as err:
        model(batch)
    assert err.value.feature == "user_ids" and str(err.value).endswith("label, user_id)")


@pytest.mark.parametrize(
    ("feature", "value"), [("item_ids", 9), ("user_ids", -1), ("history_ids", 12)]
)
def test_an_id_outside_the_vocabulary_is_named(feature, value):
    model, batch = tiny_dcn()
    batch[feature] = batch[feature].clone()
    batch[feature].view(-1)[2] = value
    with pytest.raises(BatchError, match="outside the vocabulary") as err:
        model(batch)
    assert err.value.feature == feature


def test_float_ids_and_a_wrong_dense_width_are_named():
    model, batch = tiny_dcn()
    with pytest.raises(BatchError, match="integer") as err:
        model({**batch, "item_ids": batch["item_ids"].float()})
    assert err.value.feature == "item_ids"
    with pytest.raises(BatchError, match=r"expected shape \(B, 2\)") as err:
        model({**batch, "context": batch["context"][:, :1]})
    assert err.value.feature == "context"


def test_config_and_schema_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="cross network or a deep network"):
        DCNConfig(num_cross_layers=0, hidden=())
    with pytest.raises(ValueError, match="num_cross_layers cannot be negative"):
        DCNConfig(num_cross_layers=-1)
    with pytest.raises(ValueError, match="embed_dim must be at least 1"):
        DCNConfig(embed_dim=0)
    with pytest.raises(ValueError, match="dropout"):
        DCNConfig(dropout=1.0)
    with pytest.raises(ValueError, match="at least one sparse or sequence feature"):
        DCN(Schema([Feature("price", "dense"), Feature("label", "label")]))
    assert DCNConfig(hidden=[8, 4]).hidden == (8, 4)  # lists from JSON configs


# -- the snippet ----------------------------------------------------------------------------------
def test_try_it_snippet_runs_and_beats_popularity(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "dcn_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    ours = float(out.split("DCN             test AUC ")[1].split()[0])
    popularity = float(out.split("item popularity test AUC ")[1].split()[0])
    assert f"x_0 width: {11 * 16 + 1}" in out  # 9 sparse + 2 sequences, 16 wide, + log_price
    assert f"cross network parameters: {3 * 2 * 177}" in out
    assert ours > popularity + 0.02, out
    assert "beats popularity: True" in out
