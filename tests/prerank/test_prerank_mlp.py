"""Pre-rank MLP: Eq. (1)-(2), input checks, and the try-it snippet (which is the learning test)."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest
import torch

from recnotes.data import BatchError, Feature, Schema
from recnotes.prerank import PreRankMLP, PreRankMLPConfig, prerank_schema
from recnotes.prerank.mlp import tiny_prerank_mlp

ROOT = Path(__file__).resolve().parents[2]


def test_forward_is_the_mlp_of_the_concatenated_inputs():
    """Eq. (1)-(2) by hand: h0 = [u; v; s], then Linear-ReLU-Linear-ReLU-Linear."""
    model, batch = tiny_prerank_mlp()
    model.eval()
    h = torch.cat([batch["user_vector"], batch["item_vector"], batch["recall_score"][:, None]], 1)
    linears = [m for m in model.mlp.modules() if isinstance(m, torch.nn.Linear)]
    assert [lin.in_features for lin in linears] == [9, 8, 4]
    for i, lin in enumerate(linears):
        h = h @ lin.weight.T + lin.bias
        if i < len(linears) - 1:
            h = torch.relu(h)
    torch.testing.assert_close(model(batch), h.squeeze(-1))


def test_input_order_follows_the_schema():
    """Swapping the user and item vectors changes the logits: the MLP is not symmetric."""
    model, batch = tiny_prerank_mlp()
    swapped = dict(batch, user_vector=batch["item_vector"], item_vector=batch["user_vector"])
    assert not torch.allclose(model(batch), model(swapped))


def test_bad_input_is_a_named_batch_error():
    model, batch = tiny_prerank_mlp()
    with pytest.raises(BatchError, match="recall_score"):
        model({k: v for k, v in batch.items() if k != "recall_score"})
    with pytest.raises(BatchError, match="user_vector"):
        model(dict(batch, user_vector=batch["user_vector"][:, :3]))
    nan = batch["item_vector"].clone()
    nan[2, 1] = float("nan")
    with pytest.raises(BatchError, match="item_vector.*NaN"):
        model(dict(batch, item_vector=nan))


def test_config_and_schema_are_checked():
    with pytest.raises(ValueError, match="at least one layer"):
        PreRankMLPConfig(hidden=())
    with pytest.raises(ValueError, match="activation"):
        PreRankMLPConfig(activation="swish")
    with pytest.raises(ValueError, match="dense feature"):
        PreRankMLP(Schema([Feature("item_ids", "sparse", vocab_size=5)]))
    assert PreRankMLPConfig(hidden=[4, 2]).hidden == (4, 2)  # JSON configs hold lists
    assert PreRankMLP(prerank_schema(3)).input_dim == 7


def test_try_snippet_learns_what_the_dot_product_cannot(capsys):
    """The snippet's click rule depends on |u.v|: the score alone ranks at chance, the MLP learns it."""
    runpy.run_path(str(ROOT / "docs" / "snippets" / "prerank_mlp_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    alone = float(re.search(r"recall score alone: ([\d.]+)", out).group(1))
    learned = float(re.search(r"pre-rank MLP: +([\d.]+)", out).group(1))
    assert alone < 0.6 and learned > 0.75
