"""Real-dataset loaders and protocol tables, checked against published counts.

The expected numbers come from the datasets' own READMEs and papers (ML-1M README, NCF, S3-Rec,
Frappe and NFM READMEs, UCI), not from running the loaders.
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest
import torch

from recnotes.data import BatchIterator
from recnotes.data.datasets import (
    CENSUS_COLUMNS,
    DATASETS,
    FRAPPE_FIELDS,
    ML1M_GENRES,
    MovieLens100K,
    census_income_mtl,
    census_income_split,
    frappe_ctr,
    load,
    load_amazon,
    load_movielens_1m,
    load_movielens_100k,
    movielens_1m_ctr,
    movielens_100k_split,
    rebuild_frappe_train,
)
from recnotes.data.paths import UnknownDatasetError


# -- the dispatcher ------------------------------------------------------------------------------
def test_datasets_are_described_and_unique():
    names = [spec.name for spec in DATASETS]
    assert len(names) == len(set(names))
    assert all(spec.description and len(spec.description) < 100 for spec in DATASETS)


def test_load_unknown_name_lists_the_names():
    with pytest.raises(
        UnknownDatasetError, match="unknown dataset 'ml-20m'; known: ml-1m, ml-1m-ncf"
    ):
        load("ml-20m")


def test_load_dispatches(require_data):
    require_data("ml-100k/u.data.gz", "ml-100k/u.item.gz", "ml-100k/u.user.gz", "ml-100k/u.genre")
    assert isinstance(load("ml-100k"), MovieLens100K)


def test_missing_data_names_the_file(monkeypatch, tmp_path):
    from recnotes.data.paths import DataNotFoundError

    monkeypatch.setenv("RECNOTES_DATA", str(tmp_path))
    monkeypatch.setenv("RECNOTES_OFFLINE", "1")
    with pytest.raises(
        DataNotFoundError, match=str(tmp_path / "census-income" / "census-income.test.gz")
    ):
        load("census-income")


# -- MovieLens-1M -----------------------------------------------------------------------------------
def test_ml1m_counts_match_the_readme(ml1m):
    r = ml1m.ratings
    assert len(r) == 1_000_209
    assert r["user_id"].nunique() == 6040 and r["item_id"].nunique() == 3706
    assert len(ml1m.users) == 6040 and len(ml1m.movies) == 3883
    assert r["rating"].value_counts().sort_index().tolist() == [
        56_174,
        107_557,
        261_197,
        348_971,
        226_310,
    ]
    assert round(r["rating"].mean(), 4) == 3.5816
    assert r.groupby("user_id").size().min() >= 20
    assert r.iloc[-1][["user_id", "item_id", "rating"]].tolist() == [6040, 1097, 4]


def test_ml1m_dtypes_and_timestamp_gap(ml1m):
    r = ml1m.ratings
    assert [str(t) for t in r.dtypes] == ["int64", "int64", "int64", "Int64"]
    known = r["timestamp"].notna()
    assert int(known.sum()) == 487_650
    assert (r.loc[known, "user_id"] < 3000).all() and (r.loc[~known, "user_id"] >= 3000).all()
    assert r.loc[known, "timestamp"].between(970_620_734, 1_046_388_675).all()
    assert r.iloc[0].tolist() == [1, 1193, 5, 978_300_760]


def test_ml1m_users_and_movies(ml1m):
    u, m = ml1m.users, ml1m.movies
    assert set(u["gender"]) == {"F", "M"}
    assert sorted(u["age"].unique()) == [1, 18, 25, 35, 45, 50, 56]
    assert u["occupation"].between(0, 20).all()
    assert m.loc[m["item_id"] == 1, ["title", "genres", "year"]].iloc[0].tolist() == [
        "Toy Story (1995)",
        "Animation|Children's|Comedy",
        1995,
    ]
    assert set("|".join(m["genres"]).split("|")) == set(ML1M_GENRES)
    assert m["year"].between(1919, 2000).all()


def test_ml1m_load_time(ml1m):
    start = time.perf_counter()
    load_movielens_1m()
    assert time.perf_counter() - start < 5.0, "ML-1M must load in about a second, not ten"


# -- NCF ----------------------------------------------------------------------------------------------
def test_ncf_counts(ncf):
    assert len(ncf.train) == 994_169 and len(ncf.test) == 6040
    assert ncf.negatives.shape == (6040, 99)
    assert ncf.num_users == 6040 and ncf.num_items == 3706
    assert ncf.train["user_id"].max() == 6039 and ncf.train["item_id"].max() == 3705


def test_ncf_test_items_are_held_out(ncf):
    n = ncf.num_items
    train_keys = ncf.train["user_id"].to_numpy() * n + ncf.train["item_id"].to_numpy()
    test_keys = ncf.test["user_id"].to_numpy() * n + ncf.test["item_id"].to_numpy()
    train_keys = pd.Index(train_keys)
    assert (train_keys.get_indexer(test_keys) < 0).all()
    # NCF drew negatives outside each user's training items ...
    neg_keys = (np.arange(6040)[:, None] * n + ncf.negatives).ravel()
    assert (train_keys.get_indexer(neg_keys) < 0).all()
    # ... which is why the test item itself is among its negatives for 156 users (kept as published)
    assert int((ncf.negatives == ncf.test["item_id"].to_numpy()[:, None]).any(axis=1).sum()) == 156
    assert int(ncf.target_in_negatives.sum()) == 156


def test_ncf_ids_follow_first_appearance(ncf, ml1m):
    assert ncf.movie_ids[0] == 1193  # the first rating of the official file
    first = ml1m.ratings.drop_duplicates("item_id")["item_id"].to_numpy()
    assert np.array_equal(ncf.movie_ids, first)
    # the test rating's value agrees with the original rating of that (user, movie)
    test = ncf.test.assign(user=ncf.test["user_id"] + 1, movie=ncf.movie_ids[ncf.test["item_id"]])
    merged = test.merge(ml1m.ratings, left_on=["user", "movie"], right_on=["user_id", "item_id"])
    assert len(merged) == 6040 and (merged["rating_x"] == merged["rating_y"]).all()


# -- ML-1M CTR ------------------------------------------------------------------------------------------
def test_ml1m_ctr_sizes_labels_and_schema(ml1m_ctr):
    t = ml1m_ctr
    n = 1_000_209 - 261_197  # threes are dropped
    assert sum(t.sizes().values()) == n
    assert t.sizes()["train"] == int(n * 0.8) and t.sizes()["valid"] == int(n * 0.1)
    assert t.protocol == "ctr-random-80-10-10"
    assert t.train.schema is t.schema and t.test.schema is t.schema
    assert t.schema.names("sparse") == [
        "user_ids",
        "item_ids",
        "gender",
        "age",
        "occupation",
        "zip",
    ]
    labels = torch.cat(
        [t.train.columns["label"], t.valid.columns["label"], t.test.columns["label"]]
    )
    assert int(labels.sum()) == 348_971 + 226_310
    assert t.schema["gender"].vocab_size == 3 and t.schema["age"].vocab_size == 8


def test_ml1m_ctr_train_vocabulary_maps_unseen_ids_to_zero(ml1m_ctr):
    t = ml1m_ctr
    for name in t.schema.names("sparse"):
        assert int(t.train.columns[name].min()) >= 1, f"{name}: every training value has an id"
        assert t.schema[name].vocab_size == len(t.vocabularies[name]) + 1
    unseen_valid = int((t.valid.columns["item_ids"] == 0).sum())
    unseen_test = int((t.test.columns["item_ids"] == 0).sum())
    assert 0 < unseen_valid + unseen_test < 100  # a few rare movies only
    # ids decode back to the raw value
    decoded = t.vocabularies["item_ids"][t.train.columns["item_ids"][:5].numpy() - 1]
    assert set(decoded) <= set(range(1, 3953))


def test_ml1m_ctr_full_vocabulary_and_disjoint_rows(ml1m):
    t = movielens_1m_ctr(data=ml1m, vocab="full", with_genres=True, seed=0)
    assert all(int(part.columns["item_ids"].min()) >= 1 for part in (t.train, t.valid, t.test))
    keys = torch.cat(
        [p.columns["user_ids"] * 10_000 + p.columns["item_ids"] for p in (t.train, t.valid, t.test)]
    )
    assert pd.Index(keys.numpy()).is_unique  # no (user, movie) row is in two parts
    genres = t.train.columns["genres"]
    assert t.schema["genres"].kind == "sequence" and genres.shape[1] == t.schema["genres"].max_len
    toy_story = t.vocabularies["item_ids"].tolist().index(1) + 1
    row = genres[t.train.columns["item_ids"] == toy_story][0].tolist()
    names = [ML1M_GENRES[g - 1] for g in row if g]
    assert names == ["Animation", "Children's", "Comedy"]


def test_ml1m_ctr_seed_determinism(ml1m, ml1m_ctr):
    again = movielens_1m_ctr(data=ml1m, seed=0)
    other = movielens_1m_ctr(data=ml1m, seed=1)
    assert torch.equal(again.test.columns["user_ids"], ml1m_ctr.test.columns["user_ids"])
    assert not torch.equal(other.test.columns["user_ids"], ml1m_ctr.test.columns["user_ids"])
    with pytest.raises(ValueError, match="vocab must be 'train' or 'full'"):
        movielens_1m_ctr(data=ml1m, vocab="test")


def test_ml1m_ctr_batches_validate(ml1m_ctr):
    batch = next(iter(BatchIterator(ml1m_ctr.train, batch_size=1024, seed=0)))
    ml1m_ctr.schema.validate(batch, require_labels=True)
    assert batch["user_ids"].shape == (1024,)


# -- MovieLens-100K -------------------------------------------------------------------------------------
@pytest.fixture
def ml100k(require_data):
    require_data("ml-100k/u.data.gz", "ml-100k/u.item.gz", "ml-100k/u.user.gz", "ml-100k/u.genre")
    return load_movielens_100k()


def test_ml100k_counts(ml100k):
    assert len(ml100k.ratings) == 100_000 and len(ml100k.users) == 943 and len(ml100k.items) == 1682
    counts = ml100k.ratings["rating"].value_counts().sort_index().tolist()
    assert counts == [6110, 11_370, 27_145, 34_174, 21_201]
    assert ml100k.items.loc[0, "genres"] == "Animation|Children's|Comedy"
    assert ml100k.items["year"].isna().sum() == 1  # item 267 has no release date


@pytest.mark.parametrize("fold", ["u1", "u2", "u3", "u4", "u5", "ua", "ub"])
def test_ml100k_official_folds(require_data, ml100k, fold):
    require_data(f"ml-100k/{fold}.base.gz", f"ml-100k/{fold}.test.gz")
    split = movielens_100k_split(fold)
    expected = (80_000, 20_000) if fold.startswith("u") and fold[1].isdigit() else (90_570, 9_430)
    assert (len(split.train), len(split.test)) == expected
    assert split.protocol == f"ml100k-{fold}" and len(split.valid) == 0
    both = pd.concat([split.train, split.test])
    assert len(both.merge(ml100k.ratings)) == 100_000  # together they are exactly u.data
    if fold in ("ua", "ub"):
        assert (split.test.groupby("user_id").size() == 10).all()


def test_ml100k_bad_fold():
    with pytest.raises(ValueError, match="official folds are u1, u2"):
        movielens_100k_split("u6")


# -- Amazon ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "users", "items", "interactions", "attributes"),
    [
        ("beauty", 22_363, 12_101, 198_502, 637),
        ("sports", 35_598, 18_357, 296_337, 2_277),
        ("toys", 19_412, 11_924, 167_597, 1_027),
    ],
)
def test_amazon_counts(require_data, name, users, items, interactions, attributes):
    folder = {"beauty": "amazon-beauty/Beauty", "sports": "amazon-sports/Sports_and_Outdoors",
              "toys": "amazon-toys/Toys_and_Games"}[name]  # fmt: skip
    require_data(f"{folder}.txt.gz", f"{folder}_item2attributes.json.gz")
    if name == "beauty":
        require_data("amazon-beauty/beauty_items.tsv.gz")
    data = load_amazon(name)
    x = data.interactions
    assert (data.num_users, data.num_items, len(x)) == (users, items, interactions)
    assert x["user_id"].nunique() == users and x["item_id"].nunique() == items
    assert x.groupby("user_id").size().min() >= 5
    size = x.groupby("user_id")["position"].transform("size")
    assert (x.groupby("user_id")["position"].transform("max") == size - 1).all()
    assert len({a for row in data.items["attribute_ids"] for a in row}) == attributes
    if name == "beauty":
        assert (data.items["title"] == "").sum() == 7
        assert data.items.loc[0, "asin"] == "B004756YJA"


def test_amazon_unknown_category():
    with pytest.raises(UnknownDatasetError, match="known: beauty, sports, toys"):
        load_amazon("books")


# -- Frappe ---------------------------------------------------------------------------------------------
def test_frappe_counts(frappe):
    logs = frappe.logs
    assert len(logs) == 96_203
    assert logs["user_id"].nunique() == 957 and logs["item_id"].nunique() == 4082
    assert len(logs.drop_duplicates(["user_id", "item_id"])) == 18_842
    assert len(frappe.meta) == 4082
    assert (len(frappe.validation), int(frappe.validation["label"].sum())) == (57_722, 19_063)
    assert (len(frappe.test), int(frappe.test["label"].sum())) == (28_860, 9_536)
    sizes = frappe.field_sizes
    assert list(sizes) == list(FRAPPE_FIELDS)
    assert sum(sizes.values()) == 5382  # NFM README: 7363 - 1981 features
    assert (sizes["daytime"], sizes["country"], sizes["city"]) == (7, 80, 233)


def test_frappe_rebuilt_train(frappe):
    train = rebuild_frappe_train(frappe, seed=0)
    positives = train[train["label"] == 1]
    assert len(positives) == 96_203 - 19_063 - 9_536
    assert len(train) == 3 * len(positives)
    # positives: with the held-out positives they are exactly the logs, as a multiset
    held = pd.concat([frappe.validation, frappe.test])
    held = held[held["label"] == 1]
    together = pd.concat([positives, held])[list(FRAPPE_FIELDS)]
    logs = frappe.encode(frappe.logs)
    key = list(FRAPPE_FIELDS)
    assert together.value_counts().sort_index().equals(logs.value_counts().sort_index())
    # negatives: same user and context as their positive, an item that user never used
    negatives = train[train["label"] == 0]
    parent = positives.loc[positives.index.repeat(2)]
    context = [f for f in key if f != "item_id"]
    assert np.array_equal(negatives[context].to_numpy(), parent[context].to_numpy())
    used = set(zip(logs["user_id"], logs["item_id"]))
    assert not any(pair in used for pair in zip(negatives["user_id"], negatives["item_id"]))
    assert rebuild_frappe_train(frappe, seed=0).equals(train)
    assert not rebuild_frappe_train(frappe, seed=1).equals(train)


def test_frappe_instance_cut_has_the_original_counts(frappe):
    train = rebuild_frappe_train(frappe, seed=0, cut="instance")
    default = rebuild_frappe_train(frappe, seed=0)
    # the BARS Frappe_x1 log: "Train samples: total/202027, pos/67604, neg/134423"
    assert (len(train), int(train["label"].sum())) == (202_027, 67_604)
    key = list(FRAPPE_FIELDS)
    positives = train[train["label"] == 1][key].reset_index(drop=True)
    assert positives.equals(default[default["label"] == 1][key].reset_index(drop=True))
    logs = frappe.encode(frappe.logs)
    used = set(zip(logs["user_id"], logs["item_id"]))
    negatives = train[train["label"] == 0]
    assert not any(pair in used for pair in zip(negatives["user_id"], negatives["item_id"]))
    # every negative shares user and context with some logged positive; some only with held-out ones
    context = [f for f in key if f != "item_id"]
    held = pd.concat([frappe.validation, frappe.test])
    held_ctx = set(map(tuple, held[held["label"] == 1][context].to_numpy()))
    train_ctx = set(map(tuple, positives[context].to_numpy()))
    neg_ctx = list(map(tuple, negatives[context].to_numpy()))
    assert all(c in train_ctx or c in held_ctx for c in neg_ctx)
    only_held = sum(c not in train_ctx for c in neg_ctx)
    assert 0.03 * len(neg_ctx) < only_held < 0.15 * len(neg_ctx)  # 5.8% for seed 0
    assert rebuild_frappe_train(frappe, seed=0, cut="instance").equals(train)
    assert not rebuild_frappe_train(frappe, seed=1, cut="instance").equals(train)
    t = frappe_ctr(data=frappe, seed=0, cut="instance")
    assert t.protocol == "frappe-nfm-x1-rebuilt-instance-cut" and len(t.train) == 202_027
    with pytest.raises(ValueError, match="cut must be one of"):
        rebuild_frappe_train(frappe, cut="per-row")
    with pytest.raises(ValueError, match="validation and test files hold"):
        rebuild_frappe_train(frappe, negatives_per_positive=0, cut="instance")


def test_frappe_nfm_negatives_follow_the_same_rule(frappe):
    logs = frappe.encode(frappe.logs)
    used = set(zip(logs["user_id"], logs["item_id"]))
    held = pd.concat([frappe.validation, frappe.test])
    negatives = held[held["label"] == 0]
    assert not any(pair in used for pair in zip(negatives["user_id"], negatives["item_id"]))


def test_frappe_ctr_tables(frappe):
    t = frappe_ctr(data=frappe, seed=0)
    assert t.protocol == "frappe-nfm-x1-rebuilt"
    assert t.sizes() == {"train": 202_812, "valid": 57_722, "test": 28_860}
    assert t.schema["user_ids"].vocab_size == 958 and t.schema["item_ids"].vocab_size == 4083
    assert len(t.schema.names("sparse")) == 10
    assert int(t.valid.columns["user_ids"].min()) >= 1
    assert t.vocabularies["daytime"][int(t.test.columns["daytime"][0]) - 1] in {
        "morning", "afternoon", "evening", "sunset", "night", "noon", "sunrise"
    }  # fmt: skip
    with pytest.raises(ValueError, match="negatives_per_positive"):
        rebuild_frappe_train(frappe, negatives_per_positive=-1)


# -- Census-Income -----------------------------------------------------------------------------------------
def test_census_counts_and_labels(census):
    assert census.shape == (99_762, 44)
    assert list(census.columns[:42]) == list(CENSUS_COLUMNS)
    assert int(census["income_50k"].sum()) == 6_186
    assert census["never_married"].sum() == (census["marital_status"] == "Never married").sum()
    assert census["instance_weight"].dtype == np.float64
    assert census["age"].dtype == np.int64
    assert not census["class_of_worker"].str.startswith(" ").any()


def test_census_split(census):
    split = census_income_split(frame=census, seed=0)
    assert split.protocol == "census-random-60-20-20"
    assert split.sizes() == {"train": 59_857, "valid": 19_952, "test": 19_953}
    assert set(split.train.index).isdisjoint(split.test.index)


def test_census_mtl_tables(census):
    t = census_income_mtl(seed=0, frame=census)
    inputs = t.schema.names("sparse") + t.schema.names("dense")
    assert "education" not in inputs and "marital_status" not in inputs
    assert "instance_weight" not in inputs and "income" not in inputs
    assert len(inputs) == 42 - 4
    assert t.schema.names("label") == ["income_50k", "never_married"]
    age = t.train.columns["age"]
    assert abs(float(age.mean())) < 1e-3 and abs(float(age.std()) - 1) < 1e-2
    total = sum(float(p.columns["income_50k"].sum()) for p in (t.train, t.valid, t.test))
    assert total == 6_186


def test_data_page_snippet_prints_what_the_page_says(ml1m, capsys):
    import runpy
    from pathlib import Path

    snippet = Path(__file__).resolve().parents[2] / "docs" / "snippets" / "datasets_example.py"
    runpy.run_path(str(snippet), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    n = 1_000_209 - 261_197
    assert out[0] == "MovieLens1M(ratings=1000209, users=6040, movies=3883)"
    assert out[1] == "ratings with a timestamp: 487650"
    expected = {
        "train": int(n * 0.8),
        "valid": int(n * 0.1),
        "test": n - int(n * 0.8) - int(n * 0.1),
    }
    assert out[2] == f"ctr-random-80-10-10 {expected}"
    names = ["user_ids", "item_ids", "gender", "age", "occupation", "zip", "label"]
    assert out[3] == str({name: (1024,) for name in names})
