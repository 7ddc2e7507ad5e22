"""The synthetic dataset: determinism, the table contract, no leakage, cold start, and learnability.

The learnability tests fit nothing from recnotes: a closed-form count, a few epochs of a matrix
factorisation written here in torch, and scikit-learn logistic regressions. Each compares against a
baseline on held-out rows (a temporal split at the cold-start time), with margins several times the
seed-to-seed spread.
"""

from __future__ import annotations

import runpy
import time
from dataclasses import fields
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.preprocessing import OneHotEncoder

from recnotes.data import Schema, SyntheticConfig, SyntheticData, make_synthetic
from recnotes.data.synthetic import EPOCH

REPO = Path(__file__).resolve().parents[2]
SMALL = SyntheticConfig(num_users=300, num_items=200)


@pytest.fixture(scope="module")
def data() -> SyntheticData:
    return make_synthetic(seed=0)


@pytest.fixture(scope="module")
def table(data):
    return data.ctr_table(history_len=10)


@pytest.fixture(scope="module")
def split(data):
    """Temporal split at the cold-start time, as numpy masks over impression rows."""
    train = data.before().numpy()
    return train, ~train


# -- determinism ---------------------------------------------------------------------------------


def test_same_seed_gives_bit_identical_data():
    a, b = make_synthetic(SMALL, seed=7), make_synthetic(SMALL, seed=7)
    for name in ("users", "items", "impressions"):
        pd.testing.assert_frame_equal(getattr(a, name), getattr(b, name), check_exact=True)
    for f in fields(a.truth):
        np.testing.assert_array_equal(getattr(a.truth, f.name), getattr(b.truth, f.name))
    ta, tb = a.ctr_table(history_len=5), b.ctr_table(history_len=5)
    assert all(torch.equal(ta.columns[k], tb.columns[k]) for k in ta.columns)
    assert torch.equal(a.sequences(20), b.sequences(20))


def test_different_seed_gives_different_data():
    a, b = make_synthetic(SMALL, seed=7), make_synthetic(SMALL, seed=8)
    assert not a.users.equals(b.users)
    assert not a.items.equals(b.items)
    assert not a.impressions.equals(b.impressions)


def test_default_is_the_same_as_seed_zero_and_fast():
    start = time.perf_counter()
    a = make_synthetic()
    elapsed = time.perf_counter() - start
    assert a.impressions.equals(make_synthetic(SyntheticConfig(), seed=0).impressions)
    assert elapsed < 5.0, f"default generation took {elapsed:.1f} s; it should take well under 1 s"


# -- sizes, columns, ids -------------------------------------------------------------------------


def test_default_sizes_and_rates(data):
    imp = data.impressions
    assert (data.num_users, data.num_items) == (2_000, 1_000)
    assert list(data.users.columns) == [
        "user_id", "age_bucket", "gender", "region", "activity_level", "is_cold"
    ]  # fmt: skip
    assert list(data.items.columns) == [
        "item_id", "category", "brand", "price_bucket", "price", "is_cold"
    ]  # fmt: skip
    assert list(imp.columns) == [
        "user_id", "item_id", "timestamp", "position", "click", "conversion"
    ]  # fmt: skip
    clicks_per_user = imp["click"].sum() / data.num_users
    assert 35 < clicks_per_user < 65
    assert 0.25 < imp["click"].mean() < 0.6
    assert 0.2 < imp.loc[imp["click"] == 1, "conversion"].mean() < 0.6
    assert set(imp["position"].unique()) == set(range(1, data.config.slate_size + 1))


def test_sizes_follow_the_config():
    cfg = SyntheticConfig(num_users=123, num_items=77, num_categories=5, num_brands=9, slate_size=3)
    d = make_synthetic(cfg, seed=1)
    assert (len(d.users), len(d.items)) == (123, 77)
    assert d.items["category"].max() == 5 and d.items["brand"].max() <= 9
    assert d.impressions["position"].max() == 3
    assert d.vocab_sizes["user_ids"] == 124 and d.vocab_sizes["item_ids"] == 78


def test_ids_are_one_based_and_inside_the_vocabulary(data, table):
    assert data.users["user_id"].tolist() == list(range(1, data.num_users + 1))
    assert data.items["item_id"].tolist() == list(range(1, data.num_items + 1))
    for f in table.schema:
        if f.kind not in ("sparse", "sequence"):
            continue
        col = table.columns[f.name]
        assert int(col.max()) < f.vocab_size, f.name
        lowest = 0 if f.kind == "sequence" else 1  # only sequences hold padding
        assert int(col.min()) == lowest, f.name
    assert table.schema["history_ids"].vocab_size == table.schema["item_ids"].vocab_size


def test_ctr_table_passes_schema_validation(data, table):
    assert isinstance(table.schema, Schema)
    table.schema.validate(table[:], require_labels=True)
    assert table.schema.names("sparse") == [
        "user_ids", "age_bucket", "gender", "region", "activity_level",
        "item_ids", "category", "brand", "price_bucket",
    ]  # fmt: skip
    assert table.schema.names("dense") == ["log_price"]
    assert table.schema.names("sequence") == ["history_ids", "history_categories"]
    assert table.schema.names("label") == ["click", "conversion"]
    assert table.schema["history_ids"].max_len == 10
    assert table.schema["history_ids"].shared_with == "item_ids"
    plain = data.ctr_table()
    assert "history_ids" not in plain.schema and len(plain) == len(data.impressions)
    # row r of the table is row r of the impressions
    assert torch.equal(
        table.columns["item_ids"], torch.tensor(data.impressions["item_id"].to_numpy())
    )


def test_timestamps_are_ordered_unique_and_inside_the_span(data):
    imp = data.impressions
    same_user = imp["user_id"].to_numpy()[1:] == imp["user_id"].to_numpy()[:-1]
    assert bool((np.diff(imp["user_id"].to_numpy()) >= 0).all())
    assert bool((np.diff(imp["timestamp"].to_numpy())[same_user] > 0).all())
    assert imp["timestamp"].min() >= EPOCH
    assert imp["timestamp"].max() < EPOCH + data.config.num_days * 86_400


def test_conversion_only_after_click(data):
    imp = data.impressions
    assert not bool(((imp["conversion"] == 1) & (imp["click"] == 0)).any())
    assert imp["conversion"].sum() > 0


# -- views: history, sequences, interactions -----------------------------------------------------


def _reference_history(data: SyntheticData, rows: np.ndarray, length: int) -> np.ndarray:
    """The user's last ``length`` clicks strictly before each row's timestamp, left-padded."""
    imp = data.impressions
    clicks = {u: g for u, g in imp.loc[imp["click"] == 1].groupby("user_id")}
    out = np.zeros((len(rows), length), dtype=np.int64)
    for k, r in enumerate(rows):
        g = clicks.get(imp["user_id"].iat[r])
        if g is None:
            continue
        earlier = g.loc[g["timestamp"] < imp["timestamp"].iat[r], "item_id"].to_numpy()[-length:]
        out[k, length - len(earlier) :] = earlier
    return out


def test_history_holds_exactly_the_earlier_clicks(data, table):
    imp = data.impressions
    rng = np.random.default_rng(0)
    clicked = np.flatnonzero(imp["click"].to_numpy() == 1)
    # clicked rows (the row itself must not leak in), the rows right after them, and any rows
    rows = np.concatenate(
        [rng.choice(clicked, 100), rng.choice(clicked, 100) + 1, rng.choice(len(imp), 100)]
    )
    rows = rows[rows < len(imp)]
    expected = _reference_history(data, rows, 10)
    np.testing.assert_array_equal(table.columns["history_ids"][rows].numpy(), expected)
    category_of = np.r_[0, data.items["category"].to_numpy()]  # item id -> category; 0 -> 0
    np.testing.assert_array_equal(
        table.columns["history_categories"][rows].numpy(), category_of[expected]
    )


def test_history_padding_sides_hold_the_same_items(data, table):
    right = data.ctr_table(history_len=10, pad="right").columns["history_ids"]
    left = table.columns["history_ids"]
    assert torch.equal((left > 0).sum(1), (right > 0).sum(1))
    n = (left > 0).sum(1)
    rows = torch.nonzero((n > 0) & (n < 10)).squeeze(1)[:50]
    for r in rows.tolist():
        k = int(n[r])
        assert torch.equal(left[r, 10 - k :], right[r, :k])
    full = n == 10
    assert bool(full.any()) and torch.equal(left[full], right[full])
    with pytest.raises(ValueError, match="pad must be"):
        data.ctr_table(history_len=3, pad="middle")


def test_interactions_are_the_clicks_in_time_order(data):
    inter = data.interactions()
    imp = data.impressions
    assert list(inter.columns) == ["user_id", "item_id", "timestamp"]
    assert len(inter) == int(imp["click"].sum())
    pd.testing.assert_frame_equal(
        inter, inter.sort_values(["user_id", "timestamp"]).reset_index(drop=True)
    )


def test_sequences_are_the_last_clicks_left_padded(data):
    inter = data.interactions()
    seq = data.sequences(30)
    assert seq.shape == (data.num_users, 30) and seq.dtype == torch.int64
    for u in (1, 2, 500, data.num_users):
        items = inter.loc[inter["user_id"] == u, "item_id"].to_numpy()[-30:]
        row = seq[u - 1].numpy()
        np.testing.assert_array_equal(row[30 - len(items) :], items)
        assert not row[: 30 - len(items)].any()
    right = data.sequences(30, pad="right")
    assert torch.equal((seq > 0).sum(1), (right > 0).sum(1))
    cut = data.sequences(30, until=data.cold_start_time)
    cold_rows = torch.tensor(data.users["is_cold"].to_numpy())
    assert not bool(cut[cold_rows].any()), "cold users have no clicks before the cold-start time"
    assert bool((cut[~cold_rows] > 0).any())


# -- cold start ----------------------------------------------------------------------------------


def test_cold_users_and_items_appear_only_after_the_cold_start_time(data):
    imp, cfg = data.impressions, data.config
    cold_users = data.users.loc[data.users["is_cold"], "user_id"]
    cold_items = data.items.loc[data.items["is_cold"], "item_id"]
    assert len(cold_users) == round(cfg.cold_user_fraction * cfg.num_users)
    assert len(cold_items) == round(cfg.cold_item_fraction * cfg.num_items)
    first_seen = imp.groupby("user_id")["timestamp"].min()
    assert (first_seen[cold_users] >= data.cold_start_time).all()
    assert (first_seen.drop(cold_users) < data.cold_start_time).all()
    early = imp["timestamp"] < data.cold_start_time
    assert not imp.loc[early, "item_id"].isin(cold_items).any()
    shown_later = imp.loc[~early, "item_id"].unique()
    assert np.isin(cold_items, shown_later).mean() > 0.8
    # full side features, and few interactions
    side = ["age_bucket", "gender", "region", "activity_level"]
    assert (data.users.loc[data.users["is_cold"], side] >= 1).all().all()
    assert (
        (data.items.loc[data.items["is_cold"], ["category", "brand", "price_bucket"]] >= 1)
        .all()
        .all()
    )
    clicks = imp.groupby("user_id")["click"].sum()
    assert clicks[cold_users].median() < 0.5 * clicks.drop(cold_users).median()


# -- the planted structure is learnable -----------------------------------------------------------


def _popularity(data, train):
    """Clicks per item on the training rows (the baseline to beat)."""
    imp = data.impressions
    return np.bincount(
        imp["item_id"].to_numpy()[train], weights=imp["click"].to_numpy()[train],
        minlength=data.num_items + 1,
    )  # fmt: skip


def test_true_click_probability_beats_popularity(data, split):
    train, test = split
    y = data.impressions["click"].to_numpy()
    pop = _popularity(data, train)[data.impressions["item_id"].to_numpy()]
    oracle = roc_auc_score(y[test], data.truth.click_prob[test])
    baseline = roc_auc_score(y[test], pop[test])
    assert oracle > baseline + 0.1, (oracle, baseline)


def test_matrix_factorisation_beats_popularity(data, split, table):
    """Three epochs of logistic MF on the early period beat item popularity on the late period.

    Plain Adagrad written out: a few lines, and no optimiser import inside a data test.
    """
    train, test = split
    u, i, y = table.columns["user_ids"], table.columns["item_ids"], table.columns["click"]
    gen = torch.Generator().manual_seed(0)
    users = (0.1 * torch.randn(data.num_users + 1, 8, generator=gen)).requires_grad_()
    items = (0.1 * torch.randn(data.num_items + 1, 8, generator=gen)).requires_grad_()
    item_bias = torch.zeros(data.num_items + 1, requires_grad=True)
    params = (users, items, item_bias)
    squares = [torch.zeros_like(p) for p in params]

    def logits(idx):
        return (users[u[idx]] * items[i[idx]]).sum(1) + item_bias[i[idx]]

    rows = torch.from_numpy(np.flatnonzero(train))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny tensors: extra threads only wait on each other
    try:
        for _ in range(3):
            for batch in rows[torch.randperm(len(rows), generator=gen)].split(16_384):
                loss = torch.nn.functional.binary_cross_entropy_with_logits(
                    logits(batch), y[batch], reduction="sum"
                )
                grads = torch.autograd.grad(loss, params)
                with torch.no_grad():
                    for p, g, sq in zip(params, grads, squares):
                        sq += g * g
                        p -= 0.2 * g / (sq.sqrt() + 1e-8)
    finally:
        torch.set_num_threads(threads)
    # warm users and warm items only: MF has no vector for the others
    cold_user = data.users["is_cold"].to_numpy()[u.numpy() - 1]
    cold_item = data.items["is_cold"].to_numpy()[i.numpy() - 1]
    rows = np.flatnonzero(test & ~cold_user & ~cold_item)
    with torch.no_grad():
        mf = roc_auc_score(y[rows].numpy(), logits(torch.from_numpy(rows)).numpy())
    pop = roc_auc_score(y[rows].numpy(), _popularity(data, train)[i[rows].numpy()])
    assert mf > pop + 0.03, (mf, pop)


def test_next_category_follows_the_previous_category(data):
    """A first-order Markov chain over categories beats the base rate and each user's favourite.

    The favourite category is what a model without order can know; the margin is what order adds.
    """
    inter = data.interactions()
    cat = data.items["category"].to_numpy()[inter["item_id"].to_numpy() - 1]
    user = inter["user_id"].to_numpy()
    pair = user[1:] == user[:-1]
    prev, nxt, who = cat[:-1][pair], cat[1:][pair], user[1:][pair]
    train = inter["timestamp"].to_numpy()[1:][pair] < data.cold_start_time
    c = data.vocab_sizes["category"]
    counts = np.zeros((c, c))
    np.add.at(counts, (prev[train], nxt[train]), 1)
    markov = (counts.argmax(1)[prev[~train]] == nxt[~train]).mean()
    base = (nxt[~train] == np.bincount(nxt[train]).argmax()).mean()
    favourite = np.zeros((data.num_users + 1, c))
    np.add.at(favourite, (who[train], nxt[train]), 1)
    known = favourite.sum(1)[who[~train]] > 0
    static = (favourite.argmax(1)[who[~train]] == nxt[~train])[known].mean()
    assert markov > base + 0.15, (markov, base)
    assert markov > static + 0.15, (markov, static)


def _lr_auc(columns, y, train, test, max_train=40_000):
    """Test AUC of a one-hot logistic regression (categorical columns) fitted on train rows."""
    x = np.stack(columns, axis=1)
    rows = np.flatnonzero(train)
    rows = np.random.default_rng(0).choice(rows, min(max_train, len(rows)), replace=False)
    enc = OneHotEncoder(handle_unknown="ignore").fit(x[rows])
    lr = LogisticRegression(max_iter=300).fit(enc.transform(x[rows]), y[rows])
    return roc_auc_score(y[test], lr.predict_proba(enc.transform(x[test]))[:, 1])


def test_side_features_carry_signal(data, table, split):
    """Side features alone predict clicks, user x category crosses add to it, cold items included."""
    train, test = split
    col = {k: v.numpy() for k, v in table.columns.items()}
    y = col["click"]
    item = [col["category"], col["brand"], col["price_bucket"]]
    users = [col[k] for k in ("age_bucket", "gender", "region", "activity_level")]
    crosses = [col[k] * 1_000 + col["category"] for k in ("age_bucket", "gender", "region")]
    plain = _lr_auc(item + users, y, train, test)
    crossed = _lr_auc(item + users + crosses, y, train, test)
    cold_item = data.items["is_cold"].to_numpy()[col["item_ids"] - 1]
    cold = _lr_auc(item + users + crosses, y, train, test & cold_item)
    assert plain > 0.6, plain
    assert crossed > plain + 0.01, (crossed, plain)
    assert cold > 0.6, cold


def test_history_helps_click_prediction(table, split):
    """Whether the item's category is that of the last click adds to user and item ids."""
    train, test = split
    col = {k: v.numpy() for k, v in table.columns.items()}
    same = (col["history_categories"][:, -1] == col["category"]).astype(np.int64)
    ids = _lr_auc([col["user_ids"], col["item_ids"]], col["click"], train, test)
    with_history = _lr_auc([col["user_ids"], col["item_ids"], same], col["click"], train, test)
    assert with_history > ids + 0.01, (with_history, ids)


def test_conversion_has_its_own_price_signal(table):
    """Price predicts conversion after a click, barely the click; the young mind it most."""
    col = {k: v.numpy() for k, v in table.columns.items()}
    click, conv, price = col["click"], col["conversion"], col["log_price"]
    clicked = click == 1
    on_conversion = roc_auc_score(conv[clicked], -price[clicked])
    on_click = roc_auc_score(click, -price)
    assert on_conversion > 0.6 and on_conversion > on_click + 0.05, (on_conversion, on_click)
    age = col["age_bucket"]
    young, old = clicked & (age <= 2), clicked & (age >= 6)
    assert roc_auc_score(conv[young], -price[young]) > roc_auc_score(conv[old], -price[old]) + 0.08


# -- config, printing, docs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"num_users": 1}, "num_users must be at least 2"),
        ({"num_items": 10, "num_categories": 20}, "every category has an item"),
        ({"num_brands": 5}, "every category has a brand"),
        ({"slate_size": 0}, "slate_size must be between 1 and 20"),
        ({"impressions_per_user": 2.0}, "a user sees at least one slate"),
        ({"intent_share": 1.5}, "intent_share is a share"),
        ({"category_share": 0.7, "brand_share": 0.5}, "sum to at most 1"),
        ({"category_stickiness": 0.8, "transition_share": 0.3}, "probabilities of the next intent"),
        ({"cold_user_fraction": 1.0}, "some entities must be warm"),
        ({"cold_period": 0.0}, "cold_period is the final share"),
    ],
)
def test_config_rejects_impossible_values(kwargs, message):
    with pytest.raises(ValueError, match=message):
        SyntheticConfig(**kwargs)


def test_bad_arguments_are_refused(data):
    with pytest.raises(TypeError, match="must be a number"):
        SyntheticConfig(num_users="many")
    with pytest.raises(TypeError, match="must be an int"):
        SyntheticConfig(num_items=100.5)
    with pytest.raises(ValueError, match="seed must be a non-negative integer"):
        make_synthetic(SMALL, seed=-1)
    with pytest.raises(ValueError, match="max_len must be >= 1"):
        data.sequences(0)
    with pytest.raises(ValueError, match="history_len must be >= 0"):
        data.ctr_table(history_len=-1)


def test_summary_and_repr_give_the_sizes(data):
    text = data.summary()
    assert "2,000" in text and "1,000" in text and f"{len(data.impressions):,}" in text
    assert "200 cold" in text and "100 cold" in text
    assert repr(data).startswith("SyntheticData(users=2000, items=1000, impressions=")


def test_docs_snippet_runs_and_prints_what_the_page_says(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "synthetic_example.py"), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "synthetic data (seed 0)"
    assert out[1].split()[:2] == ["users", "500"] and "(50 cold)" in out[1]
    assert out[2].split()[:2] == ["items", "300"] and "(30 cold)" in out[2]
    assert out[7] == str(
        ["user_ids", "age_bucket", "gender", "region", "activity_level",
         "item_ids", "category", "brand", "price_bucket"]
    )  # fmt: skip
    assert out[8] == "history_ids (4, 20) labels ['click', 'conversion']"
    assert out[9] == "train rows + test rows == rows: True"
    assert out[10] == "clicks: True"
    assert out[11] == "sequences (500, 50)"
