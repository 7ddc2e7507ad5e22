"""NFM: the Bi-Interaction pooling against its two definitions, NFM-0 against FM's formula,
learning on synthetic clicks, bad input and the try-it snippet.

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
from recnotes.ranking import NFM, NFMConfig
from recnotes.ranking.nfm import tiny_nfm
from recnotes.train import TrainConfig, Trainer, seed_everything

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    """Small batches train several times faster on one thread when other processes share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- Eq. (2): the embedding layer -----------------------------------------------------------------
def test_field_vectors_are_lookups_bags_and_scaled_dense_vectors():
    model, batch = tiny_nfm()
    users = model.embedding.tables["user_ids"].weight
    items = model.embedding.tables["item_ids"].weight  # history_ids shares it
    hist = batch["history_ids"]
    bag = (items[hist] * (hist != 0).unsqueeze(-1)).sum(1)
    dense = batch["context"].unsqueeze(-1) * model.dense_vectors  # x_c v_c, (B, 2, D)
    expected = torch.cat(
        [users[batch["user_ids"]][:, None], items[batch["item_ids"]][:, None], bag[:, None], dense],
        dim=1,
    )
    with torch.no_grad():
        torch.testing.assert_close(model.field_vectors(batch), expected.detach())


# -- Eq. (3): Bi-Interaction pooling --------------------------------------------------------------
def test_bi_interaction_is_the_sum_of_pairwise_products_and_the_square_identity():
    model, batch = tiny_nfm()
    with torch.no_grad():
        v = model.field_vectors(batch)  # (6, 5, 4)
        pooled = model.bi_interaction(batch)
    F = v.shape[1]
    pairwise = sum(v[:, i] * v[:, j] for i in range(F) for j in range(i + 1, F))
    identity = 0.5 * (v.sum(1) ** 2 - (v**2).sum(1))
    assert pooled.shape == (6, 4)
    torch.testing.assert_close(pooled, pairwise)
    torch.testing.assert_close(pooled, identity)


def test_a_hand_worked_bi_interaction():
    """Two sparse fields and one dense column: f_BI = v1*v2 + x v1*v3 + x v2*v3, worked by hand."""
    schema = Schema(
        [
            Feature("a", "sparse", vocab_size=2),
            Feature("b", "sparse", vocab_size=2),
            Feature("x", "dense"),
        ]
    )
    model = NFM(schema, NFMConfig(embed_dim=2, hidden=(), batch_norm=False))
    with torch.no_grad():
        model.embedding.tables["a"].weight[1] = torch.tensor([1.0, 2.0])
        model.embedding.tables["b"].weight[1] = torch.tensor([3.0, -1.0])
        model.dense_vectors.copy_(torch.tensor([[0.5, 4.0]]))
        out = model.bi_interaction(
            {"a": torch.tensor([1]), "b": torch.tensor([1]), "x": torch.tensor([2.0])}
        )
    # v1*v2 = (3, -2); x v3 = (1, 8); v1*xv3 = (1, 16); v2*xv3 = (3, -8)
    assert out.tolist() == [[7.0, 6.0]]


# -- Eqs. (4)-(5): NFM-0 is FM --------------------------------------------------------------------
def test_without_hidden_layers_and_with_h_of_ones_nfm_is_fm():
    model, batch = tiny_nfm()
    model = NFM(model.schema, NFMConfig(embed_dim=4, hidden=(), batch_norm=False, bi_dropout=0.0))
    model.eval()
    with torch.no_grad():
        model.predict.weight.fill_(1.0)
        v = model.field_vectors(batch)
        F = v.shape[1]
        fm = sum((v[:, i] * v[:, j]).sum(-1) for i in range(F) for j in range(i + 1, F))
        torch.testing.assert_close(model(batch), model.linear(batch) + fm)


def test_batch_norm_and_dropout_sit_on_the_pooled_vector_and_hidden_layers():
    model, _ = tiny_nfm()
    model = NFM(model.schema, NFMConfig(embed_dim=4, hidden=(8, 6), bi_dropout=0.3, dropout=0.1))
    assert isinstance(model.bi_norm, torch.nn.BatchNorm1d) and model.bi_dropout.p == 0.3
    kinds = [type(m).__name__ for m in model.mlp.net]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Dropout"] * 2
    assert (model.predict.in_features, model.predict.bias) == (6, None)


# -- learning -------------------------------------------------------------------------------------
def test_learns_synthetic_clicks_better_than_item_popularity():
    """The synthetic CTR task is make_synthetic(seed=0).ctr_table() with label click, split 80/10/10."""
    from recnotes.tasks import get_task

    data = get_task("synthetic").build(0)
    seed_everything(0)
    model = NFM(data.schema, NFMConfig(embed_dim=16, hidden=(32,), bi_dropout=0.2, dropout=0.1))
    config = TrainConfig(epochs=2, batch_size=2048, lr=5e-3, label="click", progress=False)
    Trainer(model, config).fit(data.train)
    model.eval()
    with torch.no_grad():
        ours = evaluate_ctr(model(data.test[:]), data.test.columns["click"])["auc"]
    items, clicks = data.train.columns["item_ids"], data.train.columns["click"]
    size = data.schema["item_ids"].vocab_size
    shown = torch.bincount(items, minlength=size).float()
    item_ctr = (torch.bincount(items, weights=clicks, minlength=size) + 1) / (shown + 2)
    popularity = evaluate_ctr(item_ctr[data.test.columns["item_ids"]], data.test.columns["click"])
    assert popularity["auc"] > 0.6  # the baseline itself is informative
    assert ours > popularity["auc"] + 0.03, (ours, popularity["auc"])


# -- bad input ------------------------------------------------------------------------------------
def test_a_misspelt_feature_name_is_named():
    model, batch = tiny_nfm()
    batch["item_id"] = batch.pop("item_ids")
    with pytest.raises(BatchError, match="'item_ids': missing") as err:
        model(batch)
    assert err.value.feature == "item_ids"


@pytest.mark.parametrize(("feature", "value"), [("user_ids", 7), ("history_ids", -1)])
def test_an_id_outside_the_vocabulary_is_named(feature, value):
    model, batch = tiny_nfm()
    batch[feature] = batch[feature].clone()
    batch[feature].view(-1)[1] = value
    with pytest.raises(BatchError, match="outside the vocabulary") as err:
        model(batch)
    assert err.value.feature == feature


def test_config_and_schema_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="bi_dropout is a probability"):
        NFMConfig(bi_dropout=1.5)
    with pytest.raises(ValueError, match="hidden width"):
        NFMConfig(hidden=(0,))
    with pytest.raises(ValueError, match="needs at least two"):
        NFM(Schema([Feature("item_ids", "sparse", vocab_size=5), Feature("label", "label")]))
    assert NFMConfig(hidden=[8]).hidden == (8,)  # lists from JSON configs


# -- the snippet ----------------------------------------------------------------------------------
def test_try_it_snippet_runs_and_beats_popularity(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "nfm_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    ours = float(out.split("NFM             test AUC ")[1].split()[0])
    popularity = float(out.split("item popularity test AUC ")[1].split()[0])
    assert "Bi-Interaction: (512, 16)" in out
    assert ours > popularity + 0.02, out
    assert "beats popularity: True" in out
