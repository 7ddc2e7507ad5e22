"""Wide&Deep: the joint logit, the cross-product ids, learning on synthetic clicks, bad input and the
try-it snippet.

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
from recnotes.ranking import WideDeep, WideDeepConfig
from recnotes.ranking.wide_deep import hash_cross, tiny_wide_deep
from recnotes.train import TrainConfig, Trainer, seed_everything

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    """Small batches train several times faster on one thread when other processes share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def randomise(model: torch.nn.Module) -> None:
    """Non-zero weights everywhere (the wide part starts at zero, which would hide a missing term)."""
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.5)
        for m in model.modules():
            if isinstance(m, torch.nn.Embedding):
                m.weight[0] = 0.0  # padding stays zero, as nn.Embedding(padding_idx=0) keeps it


# -- Eqs. (1)-(4): the joint logit ----------------------------------------------------------------
def test_the_logit_is_the_wide_part_plus_the_deep_part_computed_by_hand():
    model, batch = tiny_wide_deep()
    randomise(model)
    model.eval()
    lin = model.linear
    w = {name: lin.weights[lin.table_of[name]].weight[:, 0] for name in model.fields}
    hist = batch["history_ids"]
    wide = (
        lin.bias
        + w["user_ids"][batch["user_ids"]]
        + w["item_ids"][batch["item_ids"]]
        + w["category"][batch["category"]]
        + (w["item_ids"][hist] * (hist != 0)).sum(1)  # the history is a bag of ids; 0 is padding
        + batch["context"] @ lin.dense_linear.weight[0]
    )
    combo = batch["user_ids"] * 4 + batch["category"]  # category has vocab_size 4
    wide = wide + model.cross_weights[0].weight[combo % 50 + 1, 0]

    tables = {name: t.weight for name, t in model.embedding.tables.items()}
    counts = (hist != 0).sum(1, keepdim=True).clamp_min(1)
    pooled = (tables["item_ids"][hist] * (hist != 0).unsqueeze(-1)).sum(1) / counts
    h0 = torch.cat(
        [
            tables["user_ids"][batch["user_ids"]],
            tables["item_ids"][batch["item_ids"]],
            tables["category"][batch["category"]],
            pooled,
            batch["context"],
        ],
        dim=1,
    )
    deep = model.mlp(h0).squeeze(-1)
    with torch.no_grad():
        torch.testing.assert_close(model.wide(batch), wide.detach())
        torch.testing.assert_close(model.deep(batch), deep.detach())
        torch.testing.assert_close(model(batch), (wide + deep).detach())


# -- Eq. (2): the cross-product transformation ----------------------------------------------------
def test_every_combination_gets_its_own_id_when_the_buckets_suffice():
    a = torch.arange(1, 7).repeat_interleave(4)  # vocab 7: ids 1..6
    b = torch.arange(1, 5).repeat(6)  # vocab 5: ids 1..4
    ids = hash_cross(a, b, vocab_b=5, buckets=7 * 5)
    assert len(set(ids.tolist())) == 24 and ids.min() >= 1 and ids.max() <= 35
    assert hash_cross(torch.tensor([0, 3]), torch.tensor([2, 0]), 5, 35).tolist() == [0, 0]
    folded = hash_cross(a, b, vocab_b=5, buckets=10)  # fewer buckets than combinations: collisions
    assert set(folded.tolist()) <= set(range(1, 11)) and len(set(folded.tolist())) < 24


def test_a_cross_behaves_as_an_id_of_its_own():
    """Rows that share every single id but differ in the combination get different wide weights.

    Without the cross the wide part is additive: f(1,1) - f(1,2) - f(2,1) + f(2,2) = 0 for any
    weights. With it, the contrast is the cross table's contrast, so it is not 0.
    """
    schema = Schema([Feature("a", "sparse", vocab_size=3), Feature("b", "sparse", vocab_size=3)])
    batch = {"a": torch.tensor([1, 1, 2, 2]), "b": torch.tensor([1, 2, 1, 2])}
    sign = torch.tensor([1.0, -1.0, -1.0, 1.0])
    for crosses in ((), (("a", "b"),)):
        model = WideDeep(schema, WideDeepConfig(embed_dim=2, hidden=(), crosses=crosses))
        randomise(model)
        with torch.no_grad():
            contrast = (model.wide(batch) * sign).sum()
            ids = model.cross_ids(batch)
        if crosses:
            assert ids.shape == (4, 1) and len(set(ids[:, 0].tolist())) == 4
            table = model.cross_weights[0].weight[:, 0]
            torch.testing.assert_close(contrast, (table[ids[:, 0]] * sign).sum().detach())
            assert contrast.abs() > 1e-3
        else:
            assert ids.shape == (4, 0)
            torch.testing.assert_close(contrast, torch.tensor(0.0), atol=1e-5, rtol=0)


def test_only_the_crossed_model_can_memorise_an_xor():
    """label = a XOR b: additive in neither part (the deep part has no hidden layer here)."""
    schema = Schema(
        [Feature("a", "sparse", vocab_size=3), Feature("b", "sparse", vocab_size=3),
         Feature("label", "label")]
    )  # fmt: skip
    batch = {
        "a": torch.tensor([1, 1, 2, 2]),
        "b": torch.tensor([1, 2, 1, 2]),
        "label": torch.tensor([0.0, 1.0, 1.0, 0.0]),
    }
    aucs = {}
    for crosses in ((), (("a", "b"),)):
        seed_everything(0)
        model = WideDeep(schema, WideDeepConfig(embed_dim=2, hidden=(), crosses=crosses))
        opt = torch.optim.Adam(model.parameters(), lr=0.1)
        for _ in range(100):
            opt.zero_grad()
            loss = torch.nn.functional.binary_cross_entropy_with_logits(
                model(batch), batch["label"]
            )
            loss.backward()
            opt.step()
        with torch.no_grad():
            logits = model(batch)
        aucs[bool(crosses)] = (logits[[1, 2]].min() > logits[[0, 3]].max()).item()
        if crosses:
            assert loss.item() < 0.05
    assert aucs == {False: False, True: True}


# -- learning -------------------------------------------------------------------------------------
def test_learns_synthetic_clicks_better_than_item_popularity():
    """The synthetic CTR task is make_synthetic(seed=0).ctr_table() with label click, split 80/10/10."""
    from recnotes.tasks import get_task

    data = get_task("synthetic").build(0)
    seed_everything(0)
    config = WideDeepConfig(embed_dim=16, hidden=(64,), crosses=(("user_ids", "item_ids"),))
    model = WideDeep(data.schema, config)
    train_config = TrainConfig(epochs=2, batch_size=2048, lr=5e-3, label="click", progress=False)
    Trainer(model, train_config).fit(data.train)
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
    assert ours > popularity + 0.03, (ours, popularity)  # measured: 0.768 vs 0.721


# -- bad input ------------------------------------------------------------------------------------
def test_a_missing_or_misspelt_feature_is_named():
    model, batch = tiny_wide_deep()
    batch["category_id"] = batch.pop("category")
    with pytest.raises(BatchError, match="'category': missing") as err:
        model(batch)
    assert err.value.feature == "category" and "category_id" in str(err.value)


@pytest.mark.parametrize(
    ("feature", "value"), [("category", 4), ("user_ids", -1), ("history_ids", 9)]
)
def test_an_id_outside_the_vocabulary_is_named(feature, value):
    model, batch = tiny_wide_deep()
    batch[feature] = batch[feature].clone()
    batch[feature].view(-1)[2] = value
    with pytest.raises(BatchError, match="outside the vocabulary") as err:
        model(batch)
    assert err.value.feature == feature


def test_config_and_schema_errors_say_what_is_wrong():
    model, _ = tiny_wide_deep()
    with pytest.raises(ValueError, match="'zip' is not a sparse feature"):
        WideDeep(model.schema, WideDeepConfig(crosses=(("user_ids", "zip"),)))
    with pytest.raises(ValueError, match="'context' is not a sparse feature"):
        WideDeep(model.schema, WideDeepConfig(crosses=(("user_ids", "context"),)))
    with pytest.raises(ValueError, match="'history_ids' is not a sparse feature"):
        WideDeep(model.schema, WideDeepConfig(crosses=(("user_ids", "history_ids"),)))
    with pytest.raises(ValueError, match="pair of two different sparse fields"):
        WideDeepConfig(crosses=(("user_ids", "user_ids"),))
    with pytest.raises(ValueError, match="cross_buckets"):
        WideDeepConfig(cross_buckets=0)
    with pytest.raises(ValueError, match="embed_dim"):
        WideDeepConfig(embed_dim=0)
    with pytest.raises(ValueError, match="at least one sparse or sequence feature"):
        WideDeep(Schema([Feature("price", "dense"), Feature("label", "label")]))
    config = WideDeepConfig(hidden=[8], crosses=[["a", "b"]])  # lists from JSON configs
    assert config.hidden == (8,) and config.crosses == (("a", "b"),)


# -- the snippet ----------------------------------------------------------------------------------
def test_try_it_snippet_runs_and_the_cross_is_used(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "wide_deep_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    ours = float(out.split("Wide&Deep       test AUC ")[1].split()[0])
    popularity = float(out.split("item popularity test AUC ")[1].split()[0])
    assert "distinct (user, item) cross ids in the test rows:" in out
    assert ours > popularity + 0.02, out
    assert "beats popularity: True" in out
