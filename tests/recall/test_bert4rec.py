"""BERT4Rec: the cloze masking never leaks the target, serving with a trailing [mask], learning."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from recnotes.data import BatchError
from recnotes.data.retrieval import build_retrieval_data, retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall.bert4rec import BERT4Rec, BERT4RecConfig
from recnotes.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def data():
    return retrieval_synthetic(num_users=200, num_items=100, max_len=12, seed=0)


def model_for(data, **config) -> BERT4Rec:
    torch.manual_seed(0)
    return BERT4Rec(data.schema, BERT4RecConfig(embed_dim=16, **config)).eval()


def test_masked_positions_hold_the_mask_token_and_every_row_trains(data):
    model = model_for(data, mask_prob=0.3)
    sequence = data.sequences["history_ids"][:50]
    tokens, masked = model.mask_items(sequence, torch.Generator().manual_seed(0))
    assert torch.all(tokens[masked] == model.mask_id)
    assert torch.equal(tokens[~masked], sequence[~masked])  # the rest is untouched
    assert torch.all(sequence[masked] > 0)  # padding is never a target
    has_items = (sequence > 0).any(1)
    assert torch.all(masked.any(1) == has_items)


def test_the_target_of_a_masked_position_never_reaches_the_input(data):
    model = model_for(data)
    sequence = data.sequences["history_ids"][:20]
    tokens, masked = model.mask_items(sequence, torch.Generator().manual_seed(1))
    other = sequence.clone()
    other[masked] = (other[masked] % 90) + 1  # different true items at the masked positions
    tokens_other = other.masked_fill(masked, model.mask_id)
    with torch.no_grad():
        torch.testing.assert_close(model.encode(tokens), model.encode(tokens_other))


def test_serving_appends_a_mask_after_the_history(data):
    model = model_for(data)
    history = data.test.users["history_ids"][:5]
    tokens = torch.cat([history[:, 1:], torch.full((5, 1), model.mask_id)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(
            model.user_embedding({"history_ids": history}), model.encode(tokens)[:, -1]
        )


def test_learns_an_item_chain():
    # each user walks item ids in order (wrapping at 60): the next item is fully predictable
    rng = np.random.default_rng(0)
    rows = []
    for user in range(1, 301):
        start, n = int(rng.integers(1, 61)), int(rng.integers(8, 16))
        rows += [(user, (start + k - 1) % 60 + 1) for k in range(n)]
    data = build_retrieval_data(
        "chain", pd.DataFrame(rows, columns=["user_id", "item_id"]), num_items=60, max_len=10
    )
    torch.manual_seed(0)
    model = BERT4Rec(data.schema, BERT4RecConfig(embed_dim=32, mask_prob=0.3))
    Trainer(model, TrainConfig(epochs=8, batch_size=32, lr=3e-3, progress=False,
                               device="cpu")).fit(data.sequences)  # fmt: skip
    model.eval()
    with torch.no_grad():
        users = model.user_embedding(data.valid.users)
        items = model.item_embedding(data.items)
    hr = full_ranking(users, items, data.valid.targets, None, exclude_items=torch.tensor([0]),
                      ks=(10,), metrics=("hr",))["hr@10"]  # fmt: skip
    assert hr > 0.8  # popularity: about 10 / 60


def test_bad_input_is_named(data):
    model = model_for(data)
    with pytest.raises(BatchError, match="history_ids"):
        model.user_embedding({"item_ids": torch.tensor([1])})
    with pytest.raises(BatchError, match="target_ids"):
        model.loss({"history_ids": torch.tensor([[1, 2]])})
    with pytest.raises(BatchError, match="target_ids"):
        model.loss({"history_ids": torch.tensor([[1, 2]]), "item_ids": torch.tensor([500])})
    with pytest.raises(ValueError, match="mask_prob"):
        BERT4RecConfig(mask_prob=1.0)
