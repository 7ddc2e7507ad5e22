"""LR: the equation of its note, learning on synthetic clicks, bad input and the try-it snippet.

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
from recnotes.ranking import LR
from recnotes.ranking.lr import tiny_lr
from recnotes.train import TrainConfig, Trainer, seed_everything

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    """Small batches train several times faster on one thread when other processes share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def randomised(model: LR) -> LR:
    """The model with every weight drawn at random (a fresh LR has zero id weights)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen))
        for table in model.linear.weights.values():
            table.weight[0] = 0.0  # the padding row stays zero, as training leaves it
    return model.eval()


# -- Eq. (1): the logit is w0 + <w, x> ------------------------------------------------------------
def test_logit_is_the_bias_plus_the_weights_of_the_present_ids_and_the_dense_term():
    model, batch = tiny_lr()
    model = randomised(model)
    lin = model.linear
    w = {name: t.weight.detach().squeeze(-1) for name, t in lin.weights.items()}
    w_dense, w0 = lin.dense_linear.weight.detach()[0], lin.bias.detach()[0]
    expected = []
    for r in range(6):
        z = w0 + w["user_ids"][batch["user_ids"][r]] + w["item_ids"][batch["item_ids"][r]]
        for h in batch["history_ids"][r].tolist():  # multi-hot: every non-padding id, once each
            if h != 0:
                z = z + w["history_ids"][h]
        z = z + batch["context"][r] @ w_dense
        expected.append(z)
    with torch.no_grad():
        torch.testing.assert_close(model(batch), torch.stack(expected))


def test_a_history_has_its_own_weights_even_when_it_shares_the_item_table():
    model, batch = tiny_lr()
    model = randomised(model)
    assert model.schema["history_ids"].shared_with == "item_ids"
    one = {k: v[:1] for k, v in batch.items()}
    candidate = int(one["item_ids"][0])
    history_only = next(i for i in range(1, 9) if i != candidate)
    one["history_ids"] = torch.tensor([[0, 0, history_only, history_only]])
    with torch.no_grad():
        before = model(one)
        model.linear.weights["item_ids"].weight[history_only] += 5.0  # the candidate weight
        torch.testing.assert_close(model(one), before)  # ... does not reach the history
        model.linear.weights["history_ids"].weight[history_only] += 1.0
        torch.testing.assert_close(model(one), before + 2.0)  # the id occurs twice


def test_a_fresh_model_predicts_from_the_dense_term_only():
    model, batch = tiny_lr()
    model.eval()
    w_dense = model.linear.dense_linear.weight.detach()[0]
    with torch.no_grad():
        torch.testing.assert_close(model(batch), batch["context"] @ w_dense)


# -- learning -------------------------------------------------------------------------------------
def test_learns_the_item_click_rates_of_the_synthetic_data():
    """LR has no interaction term: on the synthetic clicks it should match item popularity, whose
    signal it holds in its item weights, and it cannot learn the planted user-item tastes."""
    from recnotes.tasks import get_task

    data = get_task("synthetic").build(0)
    seed_everything(0)
    model = LR(data.schema)
    config = TrainConfig(epochs=4, batch_size=2048, lr=1e-2, label="click", progress=False)
    Trainer(model, config).fit(data.train)
    model.eval()
    with torch.no_grad():
        ours = evaluate_ctr(model(data.test[:]), data.test.columns["click"])["auc"]
    items, clicks = data.train.columns["item_ids"], data.train.columns["click"]
    size = data.schema["item_ids"].vocab_size
    shown = torch.bincount(items, minlength=size).float()
    item_ctr = (torch.bincount(items, weights=clicks, minlength=size) + 1) / (shown + 2)
    test_items = data.test.columns["item_ids"]
    popularity = evaluate_ctr(item_ctr[test_items], data.test.columns["click"])["auc"]
    assert popularity > 0.7  # the item click rates alone carry the signal LR can use
    assert abs(ours - popularity) < 0.01, (ours, popularity)  # measured: 0.721 vs 0.721
    weights = model.linear.weights["item_ids"].weight.detach().squeeze(-1)
    often = shown >= 100
    ranks = lambda x: x.argsort().argsort().float()  # noqa: E731
    corr = torch.corrcoef(torch.stack([ranks(weights[often]), ranks(item_ctr[often])]))[0, 1]
    assert corr > 0.6, corr  # the item weights order items by their click rate; measured: 0.72


# -- bad input ------------------------------------------------------------------------------------
def test_a_missing_feature_is_named():
    model, batch = tiny_lr()
    del batch["item_ids"]
    with pytest.raises(BatchError, match="'item_ids': missing") as err:
        model(batch)
    assert err.value.feature == "item_ids"


def test_a_misspelt_feature_name_is_named():
    model, batch = tiny_lr()
    batch["user_id"] = batch.pop("user_ids")
    with pytest.raises(BatchError, match="user_ids") as err:
        model(batch)
    assert err.value.feature == "user_ids" and "user_id)" in str(err.value)


@pytest.mark.parametrize(
    ("feature", "value"), [("item_ids", 9), ("user_ids", -1), ("history_ids", 12)]
)
def test_an_id_outside_the_vocabulary_is_named(feature, value):
    model, batch = tiny_lr()
    batch[feature] = batch[feature].clone()
    batch[feature].view(-1)[2] = value
    with pytest.raises(BatchError, match="outside the vocabulary") as err:
        model(batch)
    assert err.value.feature == feature


def test_float_ids_are_named_and_a_schema_without_inputs_is_refused():
    model, batch = tiny_lr()
    with pytest.raises(BatchError, match="integer") as err:
        model({**batch, "item_ids": batch["item_ids"].float()})
    assert err.value.feature == "item_ids"
    with pytest.raises(ValueError, match="at least one sparse, sequence or dense feature"):
        LR(Schema([Feature("label", "label")]))


# -- the snippet ----------------------------------------------------------------------------------
def test_try_it_snippet_runs_and_lr_learns_item_popularity(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "lr_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    ours = float(out.split("LR              test AUC ")[1].split()[0])
    popularity = float(out.split("item popularity test AUC ")[1].split()[0])
    corr = float(out.split("with item click rates: ")[1].split()[0])
    assert ours > 0.65 and abs(ours - popularity) < 0.02, out  # measured: 0.701 vs 0.704
    assert corr > 0.6, out  # measured: 0.81
