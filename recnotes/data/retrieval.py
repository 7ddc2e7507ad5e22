"""Retrieval data: leave-one-out splits as tensors, one format for every recall model.

A recall model reads two kinds of batch (DESIGN.md, "Families"): a **user batch** for
``user_embedding`` (user features and the behaviour history ``history_ids``) and an **item batch**
for ``item_embedding`` (item features). Which feature belongs to which tower follows one naming
rule, so a model never needs a list: **a feature whose name starts with** ``item_`` **describes
the item**; every other non-label feature describes the user (``user_ids``, ``user_gender``,
``history_ids``, ...). :func:`user_side` and :func:`item_side` apply the rule.

:class:`RetrievalData` holds, for one dataset:

* ``train``: one row per training example, the user's features at that moment (the history is the
  ``max_len`` items before the target, left-padded with 0) and the target item's features;
  models train on "history -> next item" at every position of every training sequence.
* ``items``: the whole catalogue as one item batch; row ``i`` is item id ``i`` (row 0 is padding
  and is excluded from every ranking).
* ``valid`` and ``test``: a :class:`HeldOut` each: the evaluated users' features with their
  history up to the held-out item, the held-out item, and the items to filter (everything the user
  interacted with before it, so a ranked list never recommends a known item).
* ``item_counts``: how often each item is a training target, for the log-Q correction of in-batch
  softmax (Yi et al., RecSys 2019) and popularity baselines.

The split is leave-one-out: each user's last item is the test item, the one before it the
validation item, the rest train. Builders: :func:`retrieval_synthetic` (the embedded data, for
tests and demos), :func:`retrieval_movielens_1m` (test item = the NCF file's latest item, so
protocol ``fixed`` can reuse NCF's 99 negatives) and :func:`retrieval_amazon` (the S3-Rec 5-core
sequences).

Shape legend: ``R`` training rows, ``U`` evaluated users, ``N`` catalogue rows (ids + padding),
``L`` history length.

Example:
    >>> data = retrieval_synthetic(num_users=60, num_items=40, max_len=5)
    >>> data.train["history_ids"].shape[1], data.items["item_ids"].shape[0] == data.num_items
    (5, True)
    >>> sorted(item_side(data.schema)), "history_ids" in user_side(data.schema)
    (['item_brand', 'item_category', 'item_ids', 'item_price_bucket'], True)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from recnotes.data.datasets import Root
from recnotes.data.paths import DataError
from recnotes.data.schema import BatchError, Feature, Schema
from recnotes.data.table import FeatureTable

__all__ = [
    "HeldOut",
    "RetrievalData",
    "ITEM_PREFIX",
    "item_side",
    "user_side",
    "retrieval_synthetic",
    "retrieval_movielens_1m",
    "retrieval_amazon",
    "build_retrieval_data",
    "next_item_targets",
    "history_ids_of",
]

#: Item-side features are named with this prefix; all other non-label features are user-side.
ITEM_PREFIX = "item_"


def item_side(schema: Schema) -> list[str]:
    """Names of the schema's item-side features (``item_*``), in schema order."""
    return [f.name for f in schema.features if f.kind != "label" and f.name.startswith(ITEM_PREFIX)]


def user_side(schema: Schema) -> list[str]:
    """Names of the schema's user-side features (every other non-label feature), in order."""
    return [
        f.name for f in schema.features if f.kind != "label" and not f.name.startswith(ITEM_PREFIX)
    ]


@dataclass(frozen=True, eq=False)
class HeldOut:
    """The held-out item of each evaluated user, with what the user did before it.

    Attributes:
        users: user batch ``name -> (U, ...)``: the user-side features, ``history_ids`` holding
            the ``L`` items before the held-out one (left-padded).
        user_ids: ``(U,)`` the users' ids (row ``u`` of every tensor belongs to ``user_ids[u]``).
        targets: ``(U,)`` the held-out item id of each user (a row of ``RetrievalData.items``).
        seen: CSR ``(indptr (U+1,), indices)`` of the items each user had before the held-out
            one; protocol ``full`` filters them.
    """

    users: dict[str, torch.Tensor]
    user_ids: torch.Tensor
    targets: torch.Tensor
    seen: tuple[torch.Tensor, torch.Tensor]

    def __len__(self) -> int:
        return int(self.targets.shape[0])


@dataclass(frozen=True, eq=False)
class RetrievalData:
    """A dataset ready for recall models (see the module docstring).

    Attributes:
        name: dataset name (``"synthetic"``, ``"ml-1m"``, ``"beauty"``, ...).
        schema: every feature of the user and item batches (naming rule: ``item_*`` is item-side).
        train: training rows, user-side + item-side columns (the item is the target).
        items: the catalogue as an item batch; row ``i`` is item id ``i``; row 0 is padding.
        valid: the validation items (:class:`HeldOut`).
        test: the test items (:class:`HeldOut`).
        item_counts: ``(N,)`` float, how often each item is a training target.
        titles: ``N`` display names (``""`` for padding), or ``None``.
        notes: how the split was made, in a sentence or two (goes into results files).
        sequences: the same training items as one row per user, for models trained on every
            position at once (SASRec, GRU4Rec): the user-side features, ``history_ids`` = the last
            ``L`` training items but one and ``target_ids`` ``(U, L)`` = the item that follows each
            of them (0 where the position is padding). Users with fewer than two training items
            have no row.
    """

    name: str
    schema: Schema
    train: FeatureTable
    items: dict[str, torch.Tensor]
    valid: HeldOut
    test: HeldOut
    item_counts: torch.Tensor
    titles: list[str] | None
    notes: str
    sequences: FeatureTable | None = None

    @property
    def num_items(self) -> int:
        """Catalogue rows, padding row 0 included (the ``vocab_size`` of ``item_ids``)."""
        return int(self.items["item_ids"].shape[0])

    @property
    def max_len(self) -> int:
        """History length ``L``."""
        return int(self.schema["history_ids"].max_len)

    def __repr__(self) -> str:
        return (
            f"RetrievalData({self.name!r}, train_rows={len(self.train)}, "
            f"items={self.num_items - 1}, valid_users={len(self.valid)}, "
            f"test_users={len(self.test)}, max_len={self.max_len})"
        )


def _windows(items: np.ndarray, starts: np.ndarray, ends: np.ndarray, max_len: int) -> np.ndarray:
    """``(len(ends), max_len)``: the ``max_len`` entries of ``items`` before each ``end``, not
    reaching before ``start``, left-padded with 0 (vectorised: one gather)."""
    offsets = np.arange(-max_len, 0, dtype=np.int64)
    idx = ends[:, None] + offsets[None, :]  # (R, L) positions in the flat sequence array
    valid = idx >= starts[:, None]
    out = np.where(valid, items[np.clip(idx, 0, None)], 0)
    return out.astype(np.int64)


def _csr(lengths: np.ndarray, items: np.ndarray, starts: np.ndarray) -> tuple[torch.Tensor, ...]:
    """CSR of the first ``lengths[u]`` items of each user's sequence (which starts at ``starts[u]``)."""
    indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(lengths)
    flat = np.repeat(starts - indptr[:-1], lengths) + np.arange(indptr[-1])
    return torch.from_numpy(indptr), torch.from_numpy(items[flat].astype(np.int64))


def history_ids_of(batch, history_schema: Schema | None = None) -> torch.Tensor:
    """``batch["history_ids"]``, checked against ``history_schema`` when one is given.

    The sequential models (SASRec, GRU4Rec, STAMP, BERT4Rec, HSTU, TIGER) read their input here;
    pass ``schema.select(["history_ids"])`` to validate, or ``None`` when ``check_inputs`` is off.

    Raises:
        BatchError: the column is missing, or (with a schema) has the wrong dtype or shape or holds
            an id outside the vocabulary.

    Example:
        >>> history_ids_of({"item_ids": torch.tensor([1])})
        Traceback (most recent call last):
        ...
        recnotes.data.schema.BatchError: feature 'history_ids': missing from the batch (it has: ['item_ids'])
    """
    if "history_ids" not in batch:
        raise BatchError("history_ids", f"missing from the batch (it has: {sorted(batch)})")
    history = batch["history_ids"]
    if history_schema is not None:
        history_schema.validate({"history_ids": history})
    return history


def next_item_targets(batch, history: torch.Tensor, num_items: int) -> torch.Tensor:
    """The next item at every position of a training batch, ``(B, L)``, 0 where there is none.

    A batch of ``RetrievalData.sequences`` gives ``target_ids`` directly; a batch of
    ``RetrievalData.train`` rows gives one ``item_ids`` after the history, placed at the last
    position. Models trained on every position (SASRec, GRU4Rec, HSTU) read their targets here.

    Raises:
        BatchError: neither column, a wrong shape or dtype, ids outside ``[0, num_items)``, or no
            target at all.

    Example:
        >>> history = torch.tensor([[0, 3, 5]])
        >>> next_item_targets({"item_ids": torch.tensor([7])}, history, num_items=10).tolist()
        [[0, 0, 7]]
    """
    if "target_ids" in batch:
        targets = batch["target_ids"]
        if targets.shape != history.shape or targets.dtype.is_floating_point:
            raise BatchError("target_ids", f"must be integer ids shaped like history_ids "
                             f"{tuple(history.shape)}, got {tuple(targets.shape)}")  # fmt: skip
    elif "item_ids" in batch:
        targets = torch.zeros_like(history)
        targets[:, -1] = batch["item_ids"]
    else:
        raise BatchError("target_ids", "a training batch needs target_ids or item_ids")
    if targets.numel() and (targets.min() < 0 or targets.max() >= num_items):
        raise BatchError("target_ids", f"ids must be in [0, {num_items})")
    if not (targets > 0).any():
        raise BatchError("target_ids", "the batch has no target (every position is padding)")
    return targets


def build_retrieval_data(
    name: str,
    sequences: pd.DataFrame,
    *,
    num_items: int,
    user_features: dict[str, np.ndarray] | None = None,
    item_features: dict[str, np.ndarray] | None = None,
    titles: list[str] | None = None,
    max_len: int = 50,
    min_train: int = 1,
    notes: str = "",
) -> RetrievalData:
    """Build :class:`RetrievalData` from interaction sequences (leave-one-out).

    Args:
        name: dataset name.
        sequences: ``user_id``, ``item_id`` rows, each user's rows contiguous and in the order of
            the sequence (oldest first). A user's last row is the test item, the one before it the
            validation item. Users with fewer than ``min_train + 2`` rows are trained on but not
            evaluated.
        num_items: the largest item id (ids are ``1..num_items``; catalogue rows ``num_items + 1``).
        user_features: ``name -> (max_user_id + 1,)`` or ``(max_user_id + 1, m)`` int arrays
            indexed by user id; names must not start with ``item_``.
        item_features: ``name -> (num_items + 1, ...)`` int arrays indexed by item id; names must
            start with ``item_``.
        titles: display names indexed by item id.
        max_len: history length ``L``.
        min_train: fewest training items an evaluated user must have.
        notes: a sentence on how the sequences were ordered (kept in results files).

    Raises:
        ValueError: bad sizes or names, or ids out of range.
    """
    if max_len < 1:
        raise ValueError(f"max_len must be >= 1, got {max_len}")
    if min_train < 1:
        raise ValueError(f"min_train must be >= 1, got {min_train}")
    users = sequences["user_id"].to_numpy(dtype=np.int64)
    items = sequences["item_id"].to_numpy(dtype=np.int64)
    if len(users) == 0:
        raise ValueError("sequences is empty")
    if items.min() < 1 or items.max() > num_items:
        raise ValueError(
            f"item ids must be in [1, {num_items}], got [{items.min()}, {items.max()}]"
        )
    if users.min() < 1:
        raise ValueError("user ids must be >= 1 (0 is padding)")
    change = np.flatnonzero(np.diff(users)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [len(users)]])
    seq_users = users[starts]
    if len(np.unique(seq_users)) != len(seq_users):
        raise ValueError("each user's rows must be contiguous in sequences")
    lengths = ends - starts
    num_users = int(users.max())
    user_features = dict(user_features or {})
    item_features = dict(item_features or {})
    for key in user_features:
        if key.startswith(ITEM_PREFIX) or key in ("user_ids", "history_ids"):
            raise ValueError(
                f"user feature '{key}' may not start with '{ITEM_PREFIX}' or shadow ids"
            )
    for key in item_features:
        if not key.startswith(ITEM_PREFIX) or key == "item_ids":
            raise ValueError(f"item feature '{key}' must start with '{ITEM_PREFIX}' (not item_ids)")

    evaluated = lengths >= min_train + 2
    train_len = np.where(evaluated, lengths - 2, lengths)  # short users: everything is training
    # -- training rows: every position t >= 1 of each user's training prefix -------------------
    pos_in_user = np.arange(len(users)) - np.repeat(starts, lengths)
    is_train_row = (pos_in_user >= 1) & (pos_in_user < np.repeat(train_len, lengths))
    rows = np.flatnonzero(is_train_row)
    row_start = np.repeat(starts, lengths)[rows]
    hist = _windows(items, row_start, rows, max_len)

    # -- schema ---------------------------------------------------------------------------------
    feats = [Feature("user_ids", "sparse", vocab_size=num_users + 1)]
    for key, table in user_features.items():
        table = np.asarray(table)
        if table.shape[0] != num_users + 1:
            raise ValueError(f"user feature '{key}' needs {num_users + 1} rows (index = user id)")
        kind = "sequence" if table.ndim == 2 else "sparse"
        feats.append(Feature(key, kind, vocab_size=int(table.max()) + 1, max_len=table.shape[1]
                             if table.ndim == 2 else 0))  # fmt: skip
    feats.append(Feature("history_ids", "sequence", vocab_size=num_items + 1, max_len=max_len,
                         shared_with="item_ids"))  # fmt: skip
    feats.append(Feature("item_ids", "sparse", vocab_size=num_items + 1))
    for key, table in item_features.items():
        table = np.asarray(table)
        if table.shape[0] != num_items + 1:
            raise ValueError(f"item feature '{key}' needs {num_items + 1} rows (index = item id)")
        kind = "sequence" if table.ndim == 2 else "sparse"
        feats.append(Feature(key, kind, vocab_size=max(int(table.max()) + 1, 2), max_len=table.shape[1]
                             if table.ndim == 2 else 0))  # fmt: skip
    schema = Schema(feats)

    def user_columns(ids: np.ndarray) -> dict[str, torch.Tensor]:
        cols = {"user_ids": torch.from_numpy(ids.copy())}
        for key, table in user_features.items():
            cols[key] = torch.from_numpy(np.asarray(table)[ids].astype(np.int64))
        return cols

    def item_columns(ids: np.ndarray) -> dict[str, torch.Tensor]:
        cols = {"item_ids": torch.from_numpy(ids.copy())}
        for key, table in item_features.items():
            cols[key] = torch.from_numpy(np.asarray(table)[ids].astype(np.int64))
        return cols

    train_cols = user_columns(users[rows])
    train_cols["history_ids"] = torch.from_numpy(hist)
    train_cols.update(item_columns(items[rows]))
    train = FeatureTable(train_cols, schema)
    catalogue = item_columns(np.arange(num_items + 1, dtype=np.int64))

    def held_out(offset: int) -> HeldOut:
        # offset 2: the validation item (second to last), offset 1: the test item (last).
        u_starts, u_ends = starts[evaluated], ends[evaluated]
        target_pos = u_ends - offset
        ids = seq_users[evaluated]
        cols = user_columns(ids)
        cols["history_ids"] = torch.from_numpy(_windows(items, u_starts, target_pos, max_len))
        seen = _csr(target_pos - u_starts, items, u_starts)
        return HeldOut(cols, torch.from_numpy(ids.copy()),
                       torch.from_numpy(items[target_pos].copy()), seen)  # fmt: skip

    counts = np.bincount(items[rows], minlength=num_items + 1).astype(np.float32)
    # -- the sequence view: the last L + 1 training items of each user, shifted by one -----------
    window = _windows(items, starts, starts + train_len, max_len + 1)  # (U_all, L + 1)
    seq_hist, seq_next = window[:, :-1], window[:, 1:]
    seq_next = np.where(seq_hist > 0, seq_next, 0)
    keep = (seq_next > 0).any(1)
    seq_cols = user_columns(seq_users[keep])
    seq_cols["history_ids"] = torch.from_numpy(seq_hist[keep])
    seq_cols["target_ids"] = torch.from_numpy(seq_next[keep])
    seq_schema = Schema(
        [schema[name] for name in user_side(schema)]
        + [
            Feature(
                "target_ids",
                "sequence",
                vocab_size=num_items + 1,
                max_len=max_len,
                shared_with="item_ids",
            )
        ]  # fmt: skip
    )
    sequences = FeatureTable(seq_cols, seq_schema)
    return RetrievalData(
        name=name,
        schema=schema,
        train=train,
        items=catalogue,
        valid=held_out(2),
        test=held_out(1),
        item_counts=torch.from_numpy(counts),
        titles=titles,
        notes=notes,
        sequences=sequences,
    )


def retrieval_synthetic(
    *, num_users: int = 600, num_items: int = 300, max_len: int = 20, seed: int = 0
) -> RetrievalData:
    """The embedded synthetic data as a retrieval dataset: clicks in time order, leave-one-out.

    User features ``user_age_bucket``, ``user_gender``, ``user_region``; item features
    ``item_category``, ``item_brand``, ``item_price_bucket``. Runs offline in well under a second.
    """
    from recnotes.data.synthetic import SyntheticConfig, make_synthetic

    data = make_synthetic(SyntheticConfig(num_users=num_users, num_items=num_items), seed=seed)
    clicks = data.interactions()  # sorted by user, then time
    users = data.users.set_index("user_id").sort_index()
    items = data.items.set_index("item_id").sort_index()

    def by_id(frame: pd.DataFrame, column: str) -> np.ndarray:
        out = np.zeros(int(frame.index.max()) + 1, dtype=np.int64)
        out[frame.index.to_numpy()] = frame[column].to_numpy()
        return out

    max_user = int(clicks["user_id"].max())
    user_feats = {
        f"user_{c}": by_id(users, c)[: max_user + 1] for c in ("age_bucket", "gender", "region")
    }
    item_feats = {f"item_{c}": by_id(items, c) for c in ("category", "brand", "price_bucket")}
    titles = [""] + [
        f"item {i} (category {c})" for i, c in zip(items.index, items["category"], strict=True)
    ]
    return build_retrieval_data(
        "synthetic",
        clicks,
        num_items=int(items.index.max()),
        user_features=user_feats,
        item_features=item_feats,
        titles=titles,
        max_len=max_len,
        notes="synthetic clicks in time order; leave-one-out (last = test, second to last = valid)",
    )


def retrieval_movielens_1m(*, max_len: int = 50, root: Root = None) -> RetrievalData:
    """MovieLens-1M for recall, leave-latest-out, with the NCF item numbering (``NCF id + 1``).

    Every rating is an implicit positive. The test item of each user is the NCF test file's item,
    the user's latest rating, for all 6,040 users. Order of the rest: by timestamp for users
    1-2999 (ties in file order); users 3000-6040 have no timestamps in our copy, so their other
    items keep the file order, which is not chronological: their validation item is the last
    one in file order and their histories are in file order. Order-aware models learn order from
    the first 2,999 users only (the note of each such model says so).

    User features ``user_gender``, ``user_age``, ``user_occupation`` (codes + 1); item feature
    ``item_genres`` (up to 6 genre ids). Titles are the movie titles.
    """
    from recnotes.data.datasets import (
        _ml1m_genre_matrix,
        load_movielens_1m,
        load_ncf_movielens_1m,
    )

    ml = load_movielens_1m(root=root)
    ncf = load_ncf_movielens_1m(root=root, ratings=ml.ratings)
    ratings = ml.ratings
    items0, movie_ids = pd.factorize(ratings["item_id"], sort=False)  # NCF numbering
    if not np.array_equal(np.asarray(movie_ids), ncf.movie_ids):
        raise DataError("ml-1m: item numbering differs from the NCF files")
    frame = pd.DataFrame(
        {
            "user_id": ratings["user_id"].to_numpy(),
            "item_id": items0.astype(np.int64) + 1,
            "ts": ratings["timestamp"].fillna(0).to_numpy(dtype=np.int64),
            "row": np.arange(len(ratings)),
        }
    )
    test_item = ncf.test["item_id"].to_numpy() + 1  # user u + 1 -> item id
    is_test = frame["item_id"].to_numpy() == test_item[frame["user_id"].to_numpy() - 1]
    frame["is_test"] = is_test
    # order: training items by (timestamp, file row); the test item last.
    frame = frame.sort_values(["user_id", "is_test", "ts", "row"], kind="stable")
    if int(frame["is_test"].sum()) != len(test_item):
        raise DataError("ml-1m: the NCF test items do not match the ratings one to one")

    num_items = len(movie_ids)
    genres, _ = _ml1m_genre_matrix(ml.movies)
    movie_row = pd.Index(ml.movies["item_id"]).get_indexer(np.asarray(movie_ids))
    item_genres = np.zeros((num_items + 1, genres.shape[1]), dtype=np.int64)
    item_genres[1:] = genres[movie_row]
    titles = [""] + ml.movies["title"].to_numpy()[movie_row].tolist()

    u = ml.users.sort_values("user_id")
    pad = lambda x: np.concatenate([[0], x])  # noqa: E731  (row 0 = padding user)
    user_feats = {
        "user_gender": pad(np.where(u["gender"].to_numpy() == "F", 1, 2)),
        "user_age": pad(pd.factorize(u["age"], sort=True)[0] + 1),
        "user_occupation": pad(u["occupation"].to_numpy() + 1),
    }
    return build_retrieval_data(
        "ml-1m",
        frame[["user_id", "item_id"]],
        num_items=num_items,
        user_features=user_feats,
        item_features={"item_genres": item_genres},
        titles=titles,
        max_len=max_len,
        notes=(
            "ML-1M leave-latest-out: test item = NCF test file (each user's latest rating); the "
            "rest by timestamp for users 1-2999 and in file order (no timestamps) for 3000-6040, "
            "whose validation item is therefore the last in file order; item id = NCF id + 1"
        ),
    )


def retrieval_amazon(
    name: str = "beauty", *, max_len: int = 50, root: Root = None
) -> RetrievalData:
    """An S3-Rec Amazon 5-core dataset for recall: sequences in time order, leave-one-out.

    Item feature ``item_attributes``: the anonymous category and brand ids of the S3-Rec files
    (shifted by one, 0 = padding), up to the longest list. No user features. Titles for Beauty.
    """
    from recnotes.data.datasets import load_amazon

    data = load_amazon(name, root=root)
    num_items = data.num_items
    attrs = data.items["attribute_ids"].tolist()
    width = max(1, max(len(a) for a in attrs))
    item_attrs = np.zeros((num_items + 1, width), dtype=np.int64)
    for i, a in enumerate(attrs, start=1):  # once per item at load time, not in training
        item_attrs[i, : len(a)] = np.asarray(a, dtype=np.int64) + 1
    titles = None
    if "title" in data.items:
        titles = [""] + data.items["title"].tolist()
    return build_retrieval_data(
        name,
        data.interactions[["user_id", "item_id"]],
        num_items=num_items,
        item_features={"item_attributes": item_attrs},
        titles=titles,
        max_len=max_len,
        notes=f"Amazon {name} (S3-Rec 5-core) leave-one-out: last item = test, second to last = valid",
    )
