"""DeepFM: the FM component against FM's formula, one embedding table shared by both components,
the one-table layout against per-field look-ups, learning on synthetic clicks, bad input and the
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
from recnotes.ranking import DeepFM, DeepFMConfig
from recnotes.ranking.deepfm import tiny_deepfm
from recnotes.train import TrainConfig, Trainer, seed_everything

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    """Small batches train several times faster on one thread when other processes share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def lookup(model: DeepFM, name: str, ids: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """Rows of ``table`` for one field's ids, computed from the field's offset by hand."""
    offset = model.embedding.offset_of[name]
    return torch.where((ids != 0).unsqueeze(-1), table[ids + offset], torch.zeros(()))


# -- Eqs. (1)-(3): the FM component ---------------------------------------------------------------
def test_fm_component_equals_the_fm_formula():
    """y_FM = w0 + sum of id weights + w_c x_c + sum_{i<j} <v_i, v_j>, written out pair by pair."""
    model, batch = tiny_deepfm()
    emb = model.embedding
    with torch.no_grad():
        emb.weights.weight.normal_()  # the first-order weights start at zero; make them count
        emb.weights.weight[0] = 0.0
        emb.dense_weights.normal_()
        emb.bias.fill_(0.3)
        V, w = emb.vectors.weight, emb.weights.weight
        hist = batch["history_ids"]
        vectors = [
            lookup(model, "user_ids", batch["user_ids"], V),
            lookup(model, "item_ids", batch["item_ids"], V),
            lookup(model, "history_ids", hist, V).sum(1),  # a bag of ids
            batch["context"][:, :1] * emb.dense_vectors[0],
            batch["context"][:, 1:] * emb.dense_vectors[1],
        ]
        first = (
            0.3
            + lookup(model, "user_ids", batch["user_ids"], w)[:, 0]
            + lookup(model, "item_ids", batch["item_ids"], w)[:, 0]
            + lookup(model, "history_ids", hist, w)[..., 0].sum(1)
            + batch["context"] @ emb.dense_weights
        )
        pairs = sum((vectors[i] * vectors[j]).sum(-1) for i in range(5) for j in range(i + 1, 5))
        model.eval()
        y_fm, y_dnn = model.components(batch)
        torch.testing.assert_close(y_fm, first + pairs)
        torch.testing.assert_close(model(batch), y_fm + y_dnn)


def test_one_table_gives_the_same_vectors_as_one_table_per_field():
    """Field offsets never collide: each (field, id) has its own row, id 0 of every field is zero."""
    schema = Schema(
        [
            Feature("a", "sparse", vocab_size=3),
            Feature("b", "sparse", vocab_size=4),
            Feature("s", "sequence", vocab_size=4, max_len=3, shared_with="b"),
        ]
    )
    model = DeepFM(schema, DeepFMConfig(embed_dim=2, hidden=(4,)))
    assert model.embedding.vectors.num_embeddings == 1 + 2 + 3  # padding row + ids 1.. of a and b
    a, b = torch.tensor([0, 1, 2, 2]), torch.tensor([3, 0, 1, 3])
    s = torch.tensor([[0, 3, 1], [0, 0, 0], [2, 2, 0], [1, 0, 0]])
    with torch.no_grad():
        v, _ = model.embedding({"a": a, "b": b, "s": s})
    rows = model.embedding.vectors.weight
    assert bool((rows[0] == 0).all())
    torch.testing.assert_close(v[:, 0], rows[torch.tensor([0, 1, 2, 2])])
    torch.testing.assert_close(v[:, 1], rows[torch.tensor([5, 0, 3, 5])])  # b's id k -> row 2 + k
    torch.testing.assert_close(v[1:, 2], torch.stack([rows[0], 2 * rows[4], rows[3]]))


# -- shared embeddings ----------------------------------------------------------------------------
def test_both_components_read_and_train_the_same_single_table():
    model, batch = tiny_deepfm()
    tables = [
        m for m in model.modules() if isinstance(m, torch.nn.Embedding) and m.embedding_dim == 4
    ]
    assert tables == [model.embedding.vectors]  # one (V, D) table, no copy for the deep part
    model.eval()
    for part in (0, 1):  # the FM logit alone, then the deep logit alone
        model.zero_grad()
        model.components(batch)[part].sum().backward()
        grad = model.embedding.vectors.weight.grad
        assert grad is not None and grad.abs().sum() > 0, f"component {part} does not reach it"
    first_layer = model.deep.net[0]
    assert first_layer.in_features == model.num_fields * 4  # a^0 = [e_1; ...; e_F]


# -- learning -------------------------------------------------------------------------------------
def test_learns_synthetic_clicks_better_than_item_popularity():
    """The synthetic CTR task is make_synthetic(seed=0).ctr_table() with label click, split 80/10/10."""
    from recnotes.tasks import get_task

    data = get_task("synthetic").build(0)
    seed_everything(0)
    model = DeepFM(data.schema, DeepFMConfig(embed_dim=16, hidden=(64, 64), dropout=0.1))
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
    model, batch = tiny_deepfm()
    batch["user"] = batch.pop("user_ids")
    with pytest.raises(BatchError, match="'user_ids': missing") as err:
        model(batch)
    assert err.value.feature == "user_ids"


@pytest.mark.parametrize(
    ("feature", "value"), [("item_ids", 9), ("user_ids", -2), ("history_ids", 9)]
)
def test_an_id_outside_the_vocabulary_is_named(feature, value):
    """Without the check, item 9 would silently read the next field's rows of the shared table."""
    model, batch = tiny_deepfm()
    batch[feature] = batch[feature].clone()
    batch[feature].view(-1)[0] = value
    with pytest.raises(BatchError, match="outside the vocabulary") as err:
        model(batch)
    assert err.value.feature == feature


def test_config_and_schema_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="dropout is a probability"):
        DeepFMConfig(dropout=-0.1)
    with pytest.raises(ValueError, match="activation"):
        DeepFMConfig(activation="swish")
    with pytest.raises(ValueError, match="needs at least two"):
        DeepFM(Schema([Feature("item_ids", "sparse", vocab_size=5)]))
    with pytest.raises(ValueError, match="vocab sizes differ"):
        DeepFM(
            Schema(
                [
                    Feature("item_ids", "sparse", vocab_size=5),
                    Feature("h", "sequence", vocab_size=6, max_len=2, shared_with="item_ids"),
                ]
            )
        )
    assert DeepFMConfig(hidden=[8, 4]).hidden == (8, 4)  # lists from JSON configs


# -- the snippet ----------------------------------------------------------------------------------
def test_try_it_snippet_runs_and_beats_popularity(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "deepfm_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    ours = float(out.split("DeepFM          test AUC ")[1].split()[0])
    popularity = float(out.split("item popularity test AUC ")[1].split()[0])
    assert f"deep input width: {12 * 16}" in out  # 9 sparse + 2 sequences + 1 dense column
    assert ours > popularity + 0.02, out
    assert "beats popularity: True" in out
