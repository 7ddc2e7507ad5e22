"""Retrieval data: the leave-one-out views every recall model trains and is evaluated on."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import ML1M_FILES, NCF_FILES, _once  # tests/data/conftest.py

from recnotes.data.retrieval import (
    build_retrieval_data,
    item_side,
    retrieval_amazon,
    retrieval_movielens_1m,
    retrieval_synthetic,
    user_side,
)


def small():
    # user 1: 10 20 30 40 50 ; user 2: 20 30 ; user 3: 40 10 30 20
    frame = pd.DataFrame(
        {
            "user_id": [1, 1, 1, 1, 1, 2, 2, 3, 3, 3, 3],
            "item_id": [1, 2, 3, 4, 5, 2, 3, 4, 1, 3, 2],
        }  # fmt: skip
    )
    genre = np.array([0, 1, 1, 2, 2, 3])  # item id -> genre
    return build_retrieval_data(
        "toy", frame, num_items=5, item_features={"item_genre": genre}, max_len=3
    )


def test_training_rows_are_history_then_next_item():
    data = small()
    # user 1 trains on 1 2 3 (4 is valid, 5 is test): rows for targets 2, 3; user 2 is too short
    # to be evaluated and trains on both its items: target 3; user 3 trains on 4 1: target 1.
    assert data.train.columns["item_ids"].tolist() == [2, 3, 3, 1]
    assert data.train.columns["history_ids"].tolist() == [
        [0, 0, 1],
        [0, 1, 2],
        [0, 0, 2],
        [0, 0, 4],
    ]
    assert data.train.columns["user_ids"].tolist() == [1, 1, 2, 3]
    assert data.train.columns["item_genre"].tolist() == [1, 2, 2, 1]


def test_held_out_items_and_what_came_before():
    data = small()
    assert data.valid.user_ids.tolist() == [1, 3] == data.test.user_ids.tolist()
    assert data.valid.targets.tolist() == [4, 3]
    assert data.test.targets.tolist() == [5, 2]
    assert data.test.users["history_ids"].tolist() == [[2, 3, 4], [4, 1, 3]]
    indptr, indices = data.test.seen
    assert indptr.tolist() == [0, 4, 7]
    assert indices.tolist() == [1, 2, 3, 4, 4, 1, 3]
    v_indptr, v_indices = data.valid.seen
    assert v_indptr.tolist() == [0, 3, 5] and v_indices.tolist() == [1, 2, 3, 4, 1]


def test_catalogue_and_counts():
    data = small()
    assert data.items["item_ids"].tolist() == [0, 1, 2, 3, 4, 5]
    assert data.items["item_genre"].tolist() == [0, 1, 1, 2, 2, 3]
    assert data.item_counts.tolist() == [0, 1, 1, 2, 0, 0]
    assert data.num_items == 6 and data.max_len == 3


def test_the_naming_rule_splits_the_towers():
    data = small()
    assert item_side(data.schema) == ["item_ids", "item_genre"]
    assert user_side(data.schema) == ["user_ids", "history_ids"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_items": 4}, "item ids must be in"),
        ({"max_len": 0}, "max_len"),
        ({"item_features": {"genre": np.zeros(6, dtype=np.int64)}}, "must start with 'item_'"),
        ({"user_features": {"item_x": np.zeros(4, dtype=np.int64)}}, "may not start"),
        ({"item_features": {"item_g": np.zeros(3, dtype=np.int64)}}, "needs 6 rows"),
    ],
)
def test_bad_input_is_named(kwargs, message):
    frame = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [1, 2, 5]})
    args = {"num_items": 5, **kwargs}
    with pytest.raises(ValueError, match=message):
        build_retrieval_data("bad", frame, **args)


def test_users_must_be_contiguous():
    frame = pd.DataFrame({"user_id": [1, 2, 1], "item_id": [1, 2, 3]})
    with pytest.raises(ValueError, match="contiguous"):
        build_retrieval_data("bad", frame, num_items=3)


def test_synthetic_histories_end_just_before_the_target():
    data = retrieval_synthetic(num_users=80, num_items=50, max_len=6)
    # the validation item is the last history item at test time
    assert torch.equal(data.test.users["history_ids"][:, -1], data.valid.targets)
    assert len(data.train) > 0 and data.train.columns["history_ids"].shape[1] == 6
    data.schema.select(user_side(data.schema)).validate(dict(data.test.users))
    data.schema.select(item_side(data.schema)).validate(dict(data.items))


def test_movielens_1m_leave_latest_out(require_data, ncf):
    require_data(*ML1M_FILES, *NCF_FILES)
    data = _once("retrieval-ml1m", retrieval_movielens_1m)
    assert len(data.test) == 6040 and data.num_items == 3707
    assert data.test.targets.tolist() == (ncf.test["item_id"].to_numpy() + 1).tolist()
    # 1,000,209 ratings = 982,089 training rows + each user's first item + valid + test items
    assert len(data.train) == 1_000_209 - 3 * 6040
    assert data.titles[data.test.targets[0]] == "Pocahontas (1995)"  # user 1's latest rating
    # user 1 has timestamps: the validation item is the second latest rating
    stamped = ncf.train.loc[ncf.train["user_id"] == 0]
    assert int(data.valid.targets[0]) - 1 in set(stamped["item_id"])


def test_amazon_beauty_sizes(require_data):
    require_data("amazon-beauty/Beauty.txt.gz", "amazon-beauty/Beauty_item2attributes.json.gz",
                 "amazon-beauty/beauty_items.tsv.gz")  # fmt: skip
    data = _once("retrieval-beauty", lambda: retrieval_amazon("beauty", max_len=20))
    assert len(data.test) == 22_363 and data.num_items == 12_102
    assert len(data.train) == 198_502 - 3 * 22_363
    assert data.schema["item_attributes"].kind == "sequence"


def test_the_sequence_view_predicts_every_next_training_item():
    data = small()
    seq = data.sequences
    # user 1 trains on 1 2 3; user 2 on 2 3; user 3 on 4 1 (L = 3: last 4 items, shifted)
    assert seq["user_ids"].tolist() == [1, 2, 3]
    assert seq["history_ids"].tolist() == [[0, 1, 2], [0, 0, 2], [0, 0, 4]]
    assert seq["target_ids"].tolist() == [[0, 2, 3], [0, 0, 3], [0, 0, 1]]
    # the targets are exactly the training rows' items
    assert sorted(seq["target_ids"][seq["target_ids"] > 0].tolist()) == sorted(
        data.train["item_ids"].tolist()
    )
