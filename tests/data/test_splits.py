"""Split protocols: no leakage, exact sizes, determinism, clear errors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recnotes.data.splits import (
    Split,
    SplitError,
    check_ratios,
    leave_one_out,
    random_split,
    temporal_split,
    user_split,
)


def interactions(num_users: int = 300, seed: int = 0) -> pd.DataFrame:
    """Users with 1..40 events each, distinct items per user, times with deliberate ties."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 41, size=num_users)
    users = np.repeat(np.arange(num_users), sizes)
    items = np.concatenate([rng.choice(500, size=s, replace=False) for s in sizes])
    times = rng.integers(0, 200, size=len(users))  # many ties within and across users
    frame = pd.DataFrame({"user_id": users, "item_id": items, "timestamp": times})
    return frame.sample(frac=1.0, random_state=seed)  # rows not grouped, not in time order


# -- leave-one-out --------------------------------------------------------------------------------
def test_loo_holds_out_each_users_latest_event():
    frame = interactions()
    split = leave_one_out(frame, valid=True)
    assert isinstance(split, Split) and split.protocol == "leave-one-out"
    sizes = frame.groupby("user_id").size()
    eligible = sizes[sizes >= 3].index
    assert sorted(split.test["user_id"]) == sorted(eligible)
    assert sorted(split.valid["user_id"]) == sorted(eligible)
    # time order per user: train <= valid <= test
    last_train = split.train.groupby("user_id")["timestamp"].max()
    valid_t = split.valid.set_index("user_id")["timestamp"]
    test_t = split.test.set_index("user_id")["timestamp"]
    assert (last_train.reindex(eligible) <= valid_t.reindex(eligible)).all()
    assert (valid_t <= test_t.reindex(valid_t.index)).all()
    # the held-out item is not among the user's training items (items are distinct per user)
    train_pairs = set(zip(split.train["user_id"], split.train["item_id"]))
    assert not any(
        pair in train_pairs for pair in zip(split.test["user_id"], split.test["item_id"])
    )
    # every row lands in exactly one part
    parts = pd.concat(list(split))
    assert sorted(parts.index) == sorted(frame.index)


def test_loo_breaks_time_ties_by_row_order_and_can_use_row_order():
    frame = pd.DataFrame(
        {"user_id": [1, 1, 1, 2, 2], "item_id": [10, 11, 12, 20, 21], "timestamp": [5, 9, 9, 1, 1]}
    )
    split = leave_one_out(frame)
    assert split.test["item_id"].tolist() == [12, 21]  # the later row wins a tie
    by_rows = leave_one_out(frame.iloc[::-1], order_col=None)
    assert sorted(by_rows.test["item_id"].tolist()) == [10, 20]


def test_loo_keeps_short_users_in_train():
    frame = pd.DataFrame(
        {"user_id": [1, 2, 2, 3, 3, 3], "item_id": range(6), "timestamp": range(6)}
    )
    split = leave_one_out(frame, valid=True, min_train=1)
    assert split.test["user_id"].tolist() == [3]
    assert split.train["user_id"].tolist() == [1, 2, 2, 3]


def test_loo_errors():
    frame = pd.DataFrame({"user_id": [1, 1], "item_id": [1, 2]})
    with pytest.raises(SplitError, match="'timestamp' is not in the frame.*order_col=None"):
        leave_one_out(frame)
    with_nan = frame.assign(timestamp=pd.array([1, None], dtype="Int64"))
    with pytest.raises(SplitError, match="1 missing values.*users 1-2999"):
        leave_one_out(with_nan)
    with pytest.raises(SplitError, match="min_train"):
        leave_one_out(frame, order_col=None, min_train=-1)
    with pytest.raises(SplitError, match="DataFrame"):
        leave_one_out([(1, 2)])


# -- temporal --------------------------------------------------------------------------------------
def test_global_cut_by_value():
    frame = interactions()
    split = temporal_split(frame, cut=(120, 160))
    assert split.train["timestamp"].max() < 120
    assert split.valid["timestamp"].between(120, 159).all()
    assert split.test["timestamp"].min() >= 160
    assert sum(split.sizes().values()) == len(frame)


def test_global_ratios_never_split_a_timestamp():
    frame = interactions()
    split = temporal_split(frame, ratios=(0.8, 0.1, 0.1))
    assert split.protocol == "temporal-global"
    assert split.train["timestamp"].max() < split.valid["timestamp"].min()
    assert split.valid["timestamp"].max() < split.test["timestamp"].min()
    n = len(frame)
    assert abs(len(split.train) / n - 0.8) < 0.02 and abs(len(split.test) / n - 0.1) < 0.02
    assert split.params["valid_start"] == split.valid["timestamp"].min()


def test_per_user_ratio_split_respects_time_within_users():
    frame = interactions()
    split = temporal_split(frame, ratios=(0.6, 0.2, 0.2), per_user=True)
    assert split.protocol == "temporal-per-user"
    latest_train = split.train.groupby("user_id")["timestamp"].max()
    earliest_test = split.test.groupby("user_id")["timestamp"].min()
    common = latest_train.index.intersection(earliest_test.index)
    assert (latest_train[common] <= earliest_test[common]).all()
    sizes = frame.groupby("user_id").size()
    expected_train = np.floor(sizes * 0.6 + 1e-9).astype(int)
    got_train = split.train.groupby("user_id").size().reindex(sizes.index, fill_value=0)
    assert (got_train == expected_train).all()


def test_temporal_errors():
    frame = interactions()
    with pytest.raises(SplitError, match="per_user"):
        temporal_split(frame, cut=10, per_user=True)
    with pytest.raises(SplitError, match="valid_start <= test_start"):
        temporal_split(frame, cut=(50, 10))
    with pytest.raises(SplitError, match="'time'"):
        temporal_split(frame, time_col="time")


# -- random and user splits ------------------------------------------------------------------------
def test_random_split_sizes_cover_and_determinism():
    frame = interactions()
    a = random_split(frame, (0.8, 0.1, 0.1), seed=3)
    n = len(frame)
    assert a.sizes() == {
        "train": int(np.floor(n * 0.8)),
        "valid": int(np.floor(n * 0.1)),
        "test": n - int(np.floor(n * 0.8)) - int(np.floor(n * 0.1)),
    }
    assert sorted(pd.concat(list(a)).index) == sorted(frame.index)
    b = random_split(frame, (0.8, 0.1, 0.1), seed=3)
    c = random_split(frame, (0.8, 0.1, 0.1), seed=4)
    assert a.test.index.equals(b.test.index)
    assert not a.test.index.equals(c.test.index)
    two = random_split(frame, (0.9, 0.1), seed=0)
    assert len(two.valid) == 0 and list(two.valid.columns) == list(frame.columns)


def test_user_split_is_disjoint_and_deterministic():
    frame = interactions()
    split = user_split(frame, (0.7, 0.15, 0.15), seed=1)
    users = [set(part["user_id"]) for part in split]
    assert not users[0] & users[1] and not users[0] & users[2] and not users[1] & users[2]
    assert set().union(*users) == set(frame["user_id"])
    assert len(users[0]) == int(np.floor(300 * 0.7))
    again = user_split(frame, (0.7, 0.15, 0.15), seed=1)
    assert set(again.test["user_id"]) == users[2]


@pytest.mark.parametrize(
    ("ratios", "message"),
    [
        ((0.8, 0.3), "sum to 1"),
        ((0.5, -0.1, 0.6), ">= 0"),
        ((1.0,), "got 1 numbers"),
        ((0.0, 0.5, 0.5), "train ratio must be > 0"),
        (("a", "b"), "sequence of numbers"),
        ((float("nan"), 0.5, 0.5), "finite"),
    ],
)
def test_bad_ratios_are_rejected(ratios, message):
    with pytest.raises(SplitError, match=message):
        check_ratios(ratios)
    with pytest.raises(SplitError, match=message):
        random_split(interactions(10), ratios)


# -- real data -------------------------------------------------------------------------------------
def test_temporal_split_on_timestamped_ml1m_users(ml1m):
    stamped = ml1m.ratings[ml1m.ratings["timestamp"].notna()]
    assert stamped["user_id"].max() == 2999
    split = temporal_split(stamped, ratios=(0.8, 0.1, 0.1))
    assert split.train["timestamp"].max() < split.test["timestamp"].min()
    with pytest.raises(SplitError, match="512559 missing values"):
        temporal_split(ml1m.ratings)


def test_amazon_beauty_leave_one_out(require_data):
    from recnotes.data.datasets import load_amazon

    require_data("amazon-beauty/Beauty.txt.gz", "amazon-beauty/beauty_items.tsv.gz")
    beauty = load_amazon("beauty")
    split = leave_one_out(beauty.interactions, order_col="position", valid=True)
    assert split.sizes() == {"train": 198_502 - 2 * 22_363, "valid": 22_363, "test": 22_363}
    last = beauty.interactions.groupby("user_id")["position"].max()
    assert (split.test.set_index("user_id")["position"] == last).all()


def test_protocols_page_snippet_prints_what_the_page_says(capsys):
    import runpy
    from pathlib import Path

    snippet = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "protocols_example.py"
    runpy.run_path(str(snippet), run_name="__main__")
    # user 0 in time order: 3, 1, 4, 2; user 1: 0, 2, 5 (worked out by hand)
    assert capsys.readouterr().out.splitlines() == [
        "leave-one-out {'train': 3, 'valid': 2, 'test': 2}",
        "valid items: [4, 2] test items: [2, 5]",
        "negatives (3, 4) seen item drawn: False",
    ]
