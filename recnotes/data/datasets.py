"""Loaders of the real datasets, and the tables of the protocols recnotes reproduces.

Every loader reads verified files through [`fetch`][recnotes.data.paths.fetch] (data directory
``$RECNOTES_DATA``, checksums, downloads where an official source exists) and returns a small
dataclass of `pandas.DataFrame` objects whose columns and dtypes are listed in its docstring.
Parsing uses the pandas C parser (``::`` separators are rewritten to tabs first, because
``sep="::"`` would force the slow Python engine) and vectorised numpy, so ML-1M loads in about a
second.

Protocol builders return a `TableSplit`: train / validation / test
[`FeatureTable`][recnotes.data.table.FeatureTable] objects that share one
[`Schema`][recnotes.data.schema.Schema], ready for [`BatchIterator`][recnotes.data.table.BatchIterator].

| function | what | protocol name |
|---|---|---|
| `load_movielens_1m` | ML-1M ratings, users, movies | – |
| `load_ncf_movielens_1m` | NCF leave-one-out positives, test items, 99 negatives | `ncf-loo-99neg` |
| `movielens_1m_ctr` | ML-1M CTR tables of the DCN-V2 paper | `ctr-random-80-10-10` |
| `load_movielens_100k` | ML-100K ratings, users, items | – |
| `movielens_100k_split` | the official u1..u5, ua, ub splits | `ml100k-<fold>` |
| `load_amazon` | Amazon Beauty / Sports / Toys sequences (S3-Rec) | `amazon-loo-full` |
| `load_frappe` | Frappe logs, metadata, NFM validation and test | – |
| `frappe_ctr` | Frappe tables with a rebuilt train split | `frappe-nfm-x1-rebuilt` |
| `load_census_income` | Census-Income (KDD) test file with two task labels | – |
| `census_income_mtl` | Census multi-task tables | `census-random-60-20-20` |

Example:
    >>> [spec.name for spec in DATASETS][:3]
    ['ml-1m', 'ml-1m-ncf', 'ml-1m-ctr']
    >>> load("netflix")
    Traceback (most recent call last):
    ...
    recnotes.data.paths.UnknownDatasetError: unknown dataset 'netflix'; known: ml-1m, ml-1m-ncf, ml-1m-ctr, ml-100k, amazon-beauty, amazon-sports, amazon-toys, frappe, frappe-ctr, census-income, census-income-mtl
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
import torch

from recnotes.data.paths import DataError, UnknownDatasetError, _read_bytes, fetch
from recnotes.data.sampling import SeenItems, UniformNegativeSampler, read_ncf_negatives
from recnotes.data.schema import Feature, Schema
from recnotes.data.splits import Split, random_split
from recnotes.data.table import FeatureTable

__all__ = [
    "MovieLens1M",
    "NCFData",
    "MovieLens100K",
    "AmazonData",
    "FrappeData",
    "TableSplit",
    "DatasetSpec",
    "DATASETS",
    "load",
    "load_movielens_1m",
    "load_ncf_movielens_1m",
    "movielens_1m_ctr",
    "load_movielens_100k",
    "movielens_100k_split",
    "load_amazon",
    "load_frappe",
    "rebuild_frappe_train",
    "FRAPPE_CUTS",
    "frappe_ctr",
    "load_census_income",
    "census_income_split",
    "census_income_mtl",
    "ML1M_GENRES",
    "FRAPPE_FIELDS",
    "CENSUS_COLUMNS",
]

Root = str | Path | None


# -- shared pieces ------------------------------------------------------------------------------
def _read_table(
    data: bytes,
    names: list[str],
    dtype: Mapping[str, Any] | None = None,
    *,
    sep: str = "\t",
    encoding: str = "utf-8",
    header: int | None = None,
) -> pd.DataFrame:
    """Parse delimited bytes with the C parser (no quoting: titles contain quotes)."""
    return pd.read_csv(
        io.BytesIO(data),
        sep=sep,
        header=header,
        names=names,
        dtype=dtype,
        quoting=csv.QUOTE_NONE,
        encoding=encoding,
        engine="c",
        keep_default_na=False,
        na_values=[],
    )


def _colons_to_tabs(data: bytes) -> bytes:
    if b"\t" in data:
        raise DataError("a '::'-separated MovieLens file contains a tab; cannot parse it safely")
    return data.replace(b"::", b"\t")


@dataclass(frozen=True, eq=False)
class TableSplit:
    """Train / validation / test feature tables that share one schema.

    Attributes:
        train, valid, test: the tables.
        schema: their common schema (sparse ids ``1..n``, ``0`` = padding or unknown).
        protocol: the protocol name used in results files (``"ctr-random-80-10-10"``).
        vocabularies: ``feature -> raw values``; id ``k`` of a sparse feature stands for
            ``vocabularies[feature][k - 1]``.
        params: the arguments that reproduce the tables (seed, vocabulary mode, ...).
    """

    train: FeatureTable
    valid: FeatureTable
    test: FeatureTable
    schema: Schema
    protocol: str
    vocabularies: Mapping[str, np.ndarray] = field(default_factory=dict)
    params: Mapping[str, Any] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """Row counts of the three tables."""
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}

    def __repr__(self) -> str:
        return f"TableSplit(protocol={self.protocol!r}, sizes={self.sizes()}, features={self.schema.names()})"


VocabMode = Literal["train", "full"]


def _encode(
    values: pd.Series | np.ndarray, train_rows: np.ndarray, mode: VocabMode
) -> tuple[np.ndarray, np.ndarray]:
    """Map raw values to ids ``1..n`` in sorted value order; ``0`` for unknown or missing.

    With ``mode="train"`` the vocabulary is the values present in the training rows (a value first
    seen in validation or test maps to ``0``); with ``"full"`` it is every value in the column.
    Returns ``(ids int64, vocabulary)``.
    """
    codes, uniques = pd.factorize(values, sort=True, use_na_sentinel=True)
    present = np.zeros(len(uniques), dtype=bool)
    if mode == "full":
        present[:] = True
    else:
        train_codes = codes[train_rows]
        present[train_codes[train_codes >= 0]] = True
    mapping = np.where(present, np.cumsum(present), 0).astype(np.int64)
    ids = np.where(codes >= 0, mapping[np.maximum(codes, 0)], 0)
    return ids, np.asarray(uniques)[present]


def _check_mode(vocab: str) -> None:
    if vocab not in ("train", "full"):
        raise ValueError(f"vocab must be 'train' or 'full', got {vocab!r}")


def _tables(
    columns: Mapping[str, np.ndarray],
    schema: Schema,
    part: np.ndarray,
) -> tuple[FeatureTable, FeatureTable, FeatureTable]:
    """Cut full-length columns into three tables by ``part`` (0 train, 1 valid, 2 test)."""
    full = FeatureTable(columns, schema)  # validated once
    return tuple(full.subset(torch.from_numpy(np.flatnonzero(part == k))) for k in (0, 1, 2))  # type: ignore[return-value]


def _split_part(split: Split, n: int) -> np.ndarray:
    """0/1/2 per row of a frame with a ``RangeIndex`` (the split keeps the index)."""
    part = np.zeros(n, dtype=np.int64)
    part[split.valid.index.to_numpy()] = 1
    part[split.test.index.to_numpy()] = 2
    return part


# -- MovieLens-1M ---------------------------------------------------------------------------------
#: The 18 genres of ML-1M ``movies.dat``, in the order of the official README.
ML1M_GENRES: tuple[str, ...] = (
    "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime", "Documentary", "Drama",
    "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery", "Romance", "Sci-Fi", "Thriller", "War",
    "Western",
)  # fmt: skip

_ML1M_RATINGS = 1_000_209
_ML1M_TIMESTAMPED = 487_650


@dataclass(frozen=True, eq=False)
class MovieLens1M:
    """MovieLens-1M.

    Attributes:
        ratings: 1,000,209 rows in the official ``ratings.dat`` order (by user, then the file's
            own order): ``user_id`` int64 (1..6040), ``item_id`` int64 (the MovieID, 1..3952;
            3,706 distinct), ``rating`` int64 (1..5), ``timestamp`` Int64 (Unix seconds; ``<NA>``
            for users 3000-6040, whose timestamps are not available, see the data page).
        users: 6,040 rows: ``user_id`` int64, ``gender`` str (``"F"``/``"M"``), ``age`` int64
            (the age-group code 1, 18, 25, 35, 45, 50, 56), ``occupation`` int64 (code 0..20),
            ``zip`` str (as in the file, e.g. ``"98107-4032"``).
        movies: 3,883 rows: ``item_id`` int64, ``title`` str (with the year, as in the file),
            ``genres`` str (pipe-separated, e.g. ``"Animation|Children's|Comedy"``), ``year``
            int64 (from the title).
    """

    ratings: pd.DataFrame
    users: pd.DataFrame
    movies: pd.DataFrame

    def __repr__(self) -> str:
        return (
            f"MovieLens1M(ratings={len(self.ratings)}, users={len(self.users)}, "
            f"movies={len(self.movies)})"
        )


def _ml1m_ratings(root: Root) -> pd.DataFrame:
    path = fetch("ml-1m", "ratings_no_timestamp.dat.gz", root=root)
    ratings = _read_table(
        _colons_to_tabs(_read_bytes(path)),
        ["user_id", "item_id", "rating"],
        {"user_id": np.int64, "item_id": np.int64, "rating": np.int64},
    )
    ts_path = fetch("ml-1m", "ratings_users0001-2999.dat.gz", root=root)
    stamped = _read_table(
        _colons_to_tabs(_read_bytes(ts_path)),
        ["user_id", "item_id", "rating", "timestamp"],
        dict.fromkeys(["user_id", "item_id", "rating", "timestamp"], np.int64),
    )
    n = len(stamped)
    head = ratings.iloc[:n]
    if (
        len(ratings) != _ML1M_RATINGS
        or n != _ML1M_TIMESTAMPED
        or not all(
            np.array_equal(head[c].to_numpy(), stamped[c].to_numpy())
            for c in ("user_id", "item_id", "rating")
        )
    ):
        raise DataError(
            "ml-1m: ratings_users0001-2999 is not the first part of ratings_no_timestamp "
            f"(rows {len(ratings)} and {n}); the files do not belong together"
        )
    values = np.zeros(len(ratings), dtype=np.int64)
    values[:n] = stamped["timestamp"].to_numpy()
    mask = np.ones(len(ratings), dtype=bool)
    mask[:n] = False
    ratings["timestamp"] = pd.arrays.IntegerArray(values, mask)
    return ratings


def load_movielens_1m(*, root: Root = None) -> MovieLens1M:
    """Load MovieLens-1M (see `MovieLens1M` for columns and dtypes).

    Timestamps: the stored ratings file has all 1,000,209 ratings without timestamps; the official
    timestamps are known for users 1-2999 (the first 487,650 rows) and are ``<NA>`` elsewhere.
    The loader checks that the two files agree row by row.

    Args:
        root: the data directory (default ``$RECNOTES_DATA`` or the cache).
    """
    ratings = _ml1m_ratings(root)
    users = _read_table(
        _colons_to_tabs(_read_bytes(fetch("ml-1m", "users.dat.gz", root=root))),
        ["user_id", "gender", "age", "occupation", "zip"],
        {"user_id": np.int64, "gender": str, "age": np.int64, "occupation": np.int64, "zip": str},
    )
    movies = _read_table(
        _colons_to_tabs(_read_bytes(fetch("ml-1m", "movies.dat.gz", root=root))),
        ["item_id", "title", "genres"],
        {"item_id": np.int64, "title": str, "genres": str},
        encoding="latin-1",
    )
    year = movies["title"].str.extract(r"\((\d{4})\)\s*$", expand=False)
    if year.isna().any():
        raise DataError(f"ml-1m: {int(year.isna().sum())} movie titles have no '(year)'")
    movies["year"] = year.astype(np.int64)
    return MovieLens1M(ratings, users, movies)


@dataclass(frozen=True, eq=False)
class NCFData:
    """MovieLens-1M as in the NCF paper (He et al., WWW 2017), 0-based ids.

    Item ids number the movies by first appearance in the official rating order (the NCF files'
    numbering); ``user_id = UserID - 1``.

    Attributes:
        train: 994,169 implicit positives (every rating except the test ones): ``user_id`` int64,
            ``item_id`` int64, ``rating`` int64 (kept for reference; the protocol ignores it).
        test: 6,040 rows, one per user, the user's latest rating: ``user_id``, ``item_id``,
            ``rating``, ``timestamp`` (all int64).
        negatives: ``(6040, 99)`` int64; row ``u`` holds the 99 fixed negatives of user ``u``.
            In 156 rows the test item itself appears among them (NCF drew negatives from items
            outside the user's *training* set); the file is kept as published.
        movie_ids: ``(3706,)`` int64; ``movie_ids[item_id]`` is the MovieID.
    """

    train: pd.DataFrame
    test: pd.DataFrame
    negatives: np.ndarray
    movie_ids: np.ndarray

    @property
    def num_users(self) -> int:
        return len(self.test)

    @property
    def num_items(self) -> int:
        return len(self.movie_ids)

    @property
    def target_in_negatives(self) -> np.ndarray:
        """``(6040, 99)`` bool: ``True`` where a negative is the user's own test item (156 rows).

        Protocol ``ncf-loo-99neg`` does not count such an entry as a candidate, as NCF's own
        evaluation (which keys scores by item) does not.
        """
        return self.negatives == self.test["item_id"].to_numpy()[:, None]

    def __repr__(self) -> str:
        return (
            f"NCFData(train={len(self.train)}, test={len(self.test)}, "
            f"negatives={self.negatives.shape}, items={self.num_items})"
        )


def load_ncf_movielens_1m(*, root: Root = None, ratings: pd.DataFrame | None = None) -> NCFData:
    """Load the NCF leave-one-out protocol data (``ncf-loo-99neg``).

    Args:
        root: the data directory.
        ratings: ``MovieLens1M.ratings`` if already loaded (saves a second parse).

    Raises:
        DataError: the NCF test files do not match the ratings.
    """
    if ratings is None:
        ratings = _ml1m_ratings(root)
    users = ratings["user_id"].to_numpy() - 1
    items, movie_ids = pd.factorize(ratings["item_id"], sort=False)  # first appearance = NCF ids
    items = items.astype(np.int64)
    test = pd.read_csv(
        fetch("ml-1m", "ncf/ml-1m.test.rating.gz", root=root),
        sep="\t",
        header=None,
        names=["user_id", "item_id", "rating", "timestamp"],
        dtype=np.int64,
    )
    neg_path = fetch("ml-1m", "ncf/ml-1m.test.negative.gz", root=root)
    neg_users, neg_items, negatives = read_ncf_negatives(neg_path)
    num_users, num_items = int(users.max()) + 1, len(movie_ids)
    if not (
        np.array_equal(test["user_id"].to_numpy(), np.arange(num_users))
        and np.array_equal(neg_users, np.arange(num_users))
        and np.array_equal(neg_items, test["item_id"].to_numpy())
    ):
        raise DataError("ml-1m/ncf: the test and negative files do not list users 0..6039 in order")
    key = users * num_items + items
    test_key = test["user_id"].to_numpy() * num_items + test["item_id"].to_numpy()
    is_test = pd.Index(test_key).get_indexer(key) >= 0  # hash look-up; np.isin sorts
    if int(is_test.sum()) != len(test):
        raise DataError("ml-1m/ncf: some NCF test pairs are not ratings of ratings_no_timestamp")
    train = pd.DataFrame(
        {
            "user_id": users[~is_test],
            "item_id": items[~is_test],
            "rating": ratings["rating"].to_numpy()[~is_test],
        }
    )
    return NCFData(train, test, negatives, np.asarray(movie_ids, dtype=np.int64))


def movielens_1m_ctr(
    *,
    seed: int = 0,
    with_genres: bool = False,
    vocab: VocabMode = "train",
    root: Root = None,
    data: MovieLens1M | None = None,
) -> TableSplit:
    """ML-1M as a CTR task, the DCN-V2 paper protocol (``ctr-random-80-10-10``).

    Ratings 4-5 become label 1, ratings 1-2 label 0, ratings of 3 are dropped (739,012 rows
    remain). The rows are split at random 80/10/10 with [`random_split`][recnotes.data.splits.random_split]
    and ``seed``.

    Features (all sparse, ids ``1..n`` in sorted raw-value order, ``0`` = unknown):
    ``user_ids``, ``item_ids``, ``gender``, ``age``, ``occupation``, ``zip`` (the raw zip string),
    and with ``with_genres=True`` a ``genres`` sequence feature (up to 6 genre ids per movie,
    right-padded with 0; off by default, as in the paper). Label: ``label`` (float 0/1).

    Vocabulary (``vocab``): ``"train"`` (default) builds each vocabulary from the training rows
    only, and a value first seen in validation or test maps to ``0``, the padding/unknown id, as a
    deployed model would see a new id; ``"full"`` uses every row (no unknowns). The split is random
    over rows, so the two differ only in a few rare ids and zips.

    Args:
        seed: the split seed.
        with_genres: add the ``genres`` sequence feature.
        vocab: ``"train"`` or ``"full"``.
        root: the data directory.
        data: an already loaded `MovieLens1M`.
    """
    _check_mode(vocab)
    ml = data if data is not None else load_movielens_1m(root=root)
    r = ml.ratings
    keep = (r["rating"] != 3).to_numpy()
    frame = pd.DataFrame(
        {
            "user_id": r["user_id"].to_numpy()[keep],
            "item_id": r["item_id"].to_numpy()[keep],
            "label": (r["rating"].to_numpy()[keep] >= 4).astype(np.float32),
        }
    )
    users = ml.users.set_index("user_id").reindex(frame["user_id"])
    split = random_split(frame, (0.8, 0.1, 0.1), seed=seed)
    part = _split_part(split, len(frame))
    train_rows = part == 0
    columns: dict[str, np.ndarray] = {}
    vocabularies: dict[str, np.ndarray] = {}
    features: list[Feature] = []
    raw = {
        "user_ids": frame["user_id"],
        "item_ids": frame["item_id"],
        "gender": users["gender"],
        "age": users["age"],
        "occupation": users["occupation"],
        "zip": users["zip"],
    }
    for name, values in raw.items():
        ids, vocabulary = _encode(values, train_rows, vocab)
        columns[name] = ids
        vocabularies[name] = vocabulary
        features.append(Feature(name, "sparse", vocab_size=len(vocabulary) + 1))
    if with_genres:
        genre_ids, max_len = _ml1m_genre_matrix(ml.movies)
        row = np.searchsorted(ml.movies["item_id"].to_numpy(), frame["item_id"].to_numpy())
        columns["genres"] = genre_ids[row]
        vocabularies["genres"] = np.asarray(ML1M_GENRES, dtype=object)
        features.append(
            Feature("genres", "sequence", vocab_size=len(ML1M_GENRES) + 1, max_len=max_len)
        )
    columns["label"] = frame["label"].to_numpy(dtype=np.float32, copy=True)
    features.append(Feature("label", "label"))
    schema = Schema(features)
    train, valid, test = _tables(columns, schema, part)
    params = {"seed": seed, "with_genres": with_genres, "vocab": vocab, "ratios": (0.8, 0.1, 0.1)}
    return TableSplit(train, valid, test, schema, "ctr-random-80-10-10", vocabularies, params)


def _ml1m_genre_matrix(movies: pd.DataFrame) -> tuple[np.ndarray, int]:
    """``(num_movies, max_len)`` genre ids (1-based in `ML1M_GENRES` order, 0-padded)."""
    exploded = movies["genres"].str.split("|").explode()
    unknown = set(exploded) - set(ML1M_GENRES)
    if unknown:
        raise DataError(f"ml-1m: unknown genres {sorted(unknown)}")
    gid = exploded.map({g: i + 1 for i, g in enumerate(ML1M_GENRES)}).to_numpy(dtype=np.int64)
    row = exploded.index.to_numpy()  # movies has a RangeIndex, so the index is the row
    pos = exploded.groupby(level=0).cumcount().to_numpy()
    max_len = int(pos.max()) + 1
    out = np.zeros((len(movies), max_len), dtype=np.int64)
    out[row, pos] = gid
    return out, max_len


# -- MovieLens-100K -------------------------------------------------------------------------------
ML100K_FOLDS: tuple[str, ...] = ("u1", "u2", "u3", "u4", "u5", "ua", "ub")


@dataclass(frozen=True, eq=False)
class MovieLens100K:
    """MovieLens-100K.

    Attributes:
        ratings: 100,000 rows of ``u.data``: ``user_id``, ``item_id``, ``rating``, ``timestamp``
            (int64).
        users: 943 rows: ``user_id`` int64, ``age`` int64 (years), ``gender`` str, ``occupation``
            str, ``zip`` str.
        items: 1,682 rows: ``item_id`` int64, ``title`` str, ``release_date`` str (``""`` when
            unknown), ``imdb_url`` str, ``genres`` str (pipe-separated names from ``u.genre``,
            ``"unknown"`` included as a genre), ``year`` Int64 (from the release date).
    """

    ratings: pd.DataFrame
    users: pd.DataFrame
    items: pd.DataFrame

    def __repr__(self) -> str:
        return (
            f"MovieLens100K(ratings={len(self.ratings)}, users={len(self.users)}, "
            f"items={len(self.items)})"
        )


_RATING_COLUMNS = ["user_id", "item_id", "rating", "timestamp"]


def _ml100k_ratings(name: str, root: Root) -> pd.DataFrame:
    return _read_table(
        _read_bytes(fetch("ml-100k", f"{name}.gz", root=root)),
        _RATING_COLUMNS,
        dict.fromkeys(_RATING_COLUMNS, np.int64),
    )


def load_movielens_100k(*, root: Root = None) -> MovieLens100K:
    """Load MovieLens-100K (see `MovieLens100K` for columns and dtypes)."""
    ratings = _ml100k_ratings("u.data", root)
    users = _read_table(
        _read_bytes(fetch("ml-100k", "u.user.gz", root=root)),
        ["user_id", "age", "gender", "occupation", "zip"],
        {"user_id": np.int64, "age": np.int64, "gender": str, "occupation": str, "zip": str},
        sep="|",
    )
    genre_table = _read_table(
        _read_bytes(fetch("ml-100k", "u.genre", root=root)).strip(),
        ["genre", "index"],
        {"genre": str, "index": np.int64},
        sep="|",
    )
    genres = genre_table.sort_values("index")["genre"].tolist()
    flags = [f"g{k}" for k in range(len(genres))]
    items = _read_table(
        _read_bytes(fetch("ml-100k", "u.item.gz", root=root)),
        ["item_id", "title", "release_date", "video_release_date", "imdb_url", *flags],
        {"item_id": np.int64, "title": str, "release_date": str, "video_release_date": str,
         "imdb_url": str} | dict.fromkeys(flags, np.int64),
        sep="|",
        encoding="latin-1",
    )  # fmt: skip
    flag_matrix = items[flags].to_numpy().astype(bool)
    names = np.asarray(genres, dtype=object)
    items["genres"] = ["|".join(names[row]) for row in flag_matrix]  # 1,682 items, not rows
    items["year"] = pd.to_numeric(items["release_date"].str[-4:], errors="coerce").astype("Int64")
    items = items.drop(columns=[*flags, "video_release_date"])
    return MovieLens100K(ratings, users, items)


def movielens_100k_split(fold: str = "u1", *, root: Root = None) -> Split:
    """One of the official ML-100K splits (protocol ``ml100k-<fold>``).

    ``u1``..``u5`` are the five 80/20 folds of ``u.data`` (disjoint test sets); ``ua`` and ``ub``
    hold out exactly 10 ratings per user (90,570 / 9,430). There is no validation part (``valid``
    is empty). Columns as ``MovieLens100K.ratings``.

    Raises:
        ValueError: ``fold`` is not one of ``u1``..``u5``, ``ua``, ``ub``.
    """
    if fold not in ML100K_FOLDS:
        raise ValueError(
            f"unknown ML-100K fold {fold!r}; the official folds are {', '.join(ML100K_FOLDS)}"
        )
    train = _ml100k_ratings(f"{fold}.base", root)
    test = _ml100k_ratings(f"{fold}.test", root)
    return Split(train, train.iloc[:0], test, f"ml100k-{fold}", {"fold": fold})


# -- Amazon (S3-Rec) ------------------------------------------------------------------------------
_AMAZON = {
    "beauty": ("amazon-beauty", "Beauty"),
    "sports": ("amazon-sports", "Sports_and_Outdoors"),
    "toys": ("amazon-toys", "Toys_and_Games"),
}


@dataclass(frozen=True, eq=False)
class AmazonData:
    """An Amazon 5-core dataset in the S3-Rec format (items per user in time order, no timestamps).

    Attributes:
        name: ``"beauty"``, ``"sports"`` or ``"toys"``.
        interactions: one row per interaction, users in file order and items in time order:
            ``user_id`` int64 (1-based), ``item_id`` int64 (1-based), ``position`` int64 (0-based
            index in the user's sequence; use it as the order of
            [`leave_one_out`][recnotes.data.splits.leave_one_out]).
        items: one row per item id ``1..num_items``: ``item_id`` int64, ``attribute_ids``
            (a list of int: anonymous category and brand ids); for Beauty also ``asin`` str and
            ``title`` str (``""`` for the 7 items without a title).
    """

    name: str
    interactions: pd.DataFrame
    items: pd.DataFrame

    @property
    def num_users(self) -> int:
        return int(self.interactions["user_id"].max())

    @property
    def num_items(self) -> int:
        return len(self.items)

    def __repr__(self) -> str:
        return (
            f"AmazonData({self.name!r}, users={self.num_users}, items={self.num_items}, "
            f"interactions={len(self.interactions)})"
        )


def load_amazon(name: str = "beauty", *, root: Root = None) -> AmazonData:
    """Load an S3-Rec Amazon dataset: ``"beauty"``, ``"sports"`` or ``"toys"``.

    Published sizes (users / items / interactions): Beauty 22,363 / 12,101 / 198,502; Sports
    35,598 / 18,357 / 296,337; Toys 19,412 / 11,924 / 167,597.
    """
    if name not in _AMAZON:
        raise UnknownDatasetError(f"unknown Amazon category {name!r}; known: {', '.join(_AMAZON)}")
    dataset, stem = _AMAZON[name]
    text = _read_bytes(fetch(dataset, f"{stem}.txt.gz", root=root))
    # one line per user: "user item item ...". A sentinel per line end keeps it vectorised.
    tokens = np.array(text.replace(b"\r", b"").replace(b"\n", b" -1 ").split(), dtype=np.int64)
    is_end = tokens == -1
    line = np.concatenate([[0], np.cumsum(is_end)[:-1]])
    first = np.concatenate([[True], is_end[:-1]])  # the first token of a line is the user
    body = ~is_end & ~first
    users = tokens[first & ~is_end]
    line_user = np.full(int(line.max()) + 1, -1, dtype=np.int64)
    line_user[line[first & ~is_end]] = users
    user_of = line_user[line[body]]
    interactions = pd.DataFrame({"user_id": user_of, "item_id": tokens[body]})
    interactions["position"] = (
        interactions.groupby("user_id", sort=False).cumcount().astype(np.int64)
    )

    attrs = json.loads(_read_bytes(fetch(dataset, f"{stem}_item2attributes.json.gz", root=root)))
    num_items = int(interactions["item_id"].max())
    items = pd.DataFrame({"item_id": np.arange(1, num_items + 1, dtype=np.int64)})
    items["attribute_ids"] = [list(attrs.get(str(i), [])) for i in range(1, num_items + 1)]
    if name == "beauty":
        titles = _read_table(
            _read_bytes(fetch(dataset, "beauty_items.tsv.gz", root=root)),
            ["item_id", "asin", "title"],
            {"item_id": np.int64, "asin": str, "title": str},
            header=0,
        )
        items = items.merge(titles, on="item_id", how="left", validate="one_to_one")
        items[["asin", "title"]] = items[["asin", "title"]].fillna("")
    return AmazonData(name, interactions, items)


# -- Frappe ---------------------------------------------------------------------------------------
#: The 10 Frappe fields, in the order of the NFM libfm files (the ``cnt`` column is not a field).
FRAPPE_FIELDS: tuple[str, ...] = (
    "user_id", "item_id", "daytime", "weekday", "isweekend", "homework", "cost", "weather",
    "country", "city",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class FrappeData:
    """Frappe: the original logs and the NFM/AFM validation and test files.

    Field codes: the NFM files number the values of each field by first appearance in
    ``frappe.csv`` (checked when loading: every positive of the NFM files is a log row under this
    coding); ``validation`` and ``test`` hold these 0-based, per-field codes, so a user's code is
    their raw ``user`` id and an item's code its raw ``item`` id.

    Attributes:
        logs: 96,203 rows of ``frappe.csv``: ``user_id`` int64, ``item_id`` int64, ``cnt`` int64
            (times used), ``daytime``, ``weekday``, ``isweekend``, ``homework``, ``cost``,
            ``weather``, ``country`` (str), ``city`` int64.
        meta: 4,082 rows of ``meta.csv`` (``item_id`` int64 and the app's metadata as str).
        validation: 57,722 rows (19,063 positive): ``label`` int64 (1 used, 0 sampled negative)
            and one int64 code column per field of `FRAPPE_FIELDS`.
        test: 28,860 rows (9,536 positive), same columns.
        vocabularies: ``field -> raw values``; code ``k`` of a field is ``vocabularies[field][k]``.

    The NFM train file (202,027 rows) is not available: see `rebuild_frappe_train`.
    """

    logs: pd.DataFrame
    meta: pd.DataFrame
    validation: pd.DataFrame
    test: pd.DataFrame
    vocabularies: Mapping[str, np.ndarray]

    @property
    def field_sizes(self) -> dict[str, int]:
        """Number of distinct values per field (957 users, 4,082 items, ... 5,382 in all)."""
        return {f: len(v) for f, v in self.vocabularies.items()}

    def encode(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Per-field codes of raw log rows (the coding of ``validation`` and ``test``)."""
        out = {}
        for f in FRAPPE_FIELDS:
            codes = pd.Index(self.vocabularies[f]).get_indexer(frame[f])
            if (codes < 0).any():
                raise DataError(f"frappe: field {f!r} has values outside the log's vocabulary")
            out[f] = codes.astype(np.int64)
        return pd.DataFrame(out, index=frame.index)

    def __repr__(self) -> str:
        return (
            f"FrappeData(logs={len(self.logs)}, validation={len(self.validation)}, "
            f"test={len(self.test)}, features={sum(self.field_sizes.values())})"
        )


def _read_libfm(path: Path, offsets: np.ndarray, sizes: np.ndarray) -> pd.DataFrame:
    data = re.sub(rb":1(?=\s|$)", b"", _read_bytes(path))
    frame = _read_table(
        data, ["label", *FRAPPE_FIELDS], dict.fromkeys(["label", *FRAPPE_FIELDS], np.int64), sep=" "
    )
    codes = frame[list(FRAPPE_FIELDS)].to_numpy() - offsets
    if (codes < 0).any() or (codes >= sizes).any():
        raise DataError(
            f"{path}: feature indices do not fall in the per-field ranges of frappe.csv"
        )
    if not frame["label"].isin([1, -1]).all():
        raise DataError(f"{path}: labels must be 1 or -1")
    out = pd.DataFrame(codes, columns=list(FRAPPE_FIELDS))
    out.insert(0, "label", (frame["label"].to_numpy() == 1).astype(np.int64))
    return out


def load_frappe(*, root: Root = None) -> FrappeData:
    """Load Frappe logs, metadata and the NFM validation/test files (see `FrappeData`).

    Raises:
        DataError: an NFM positive is not a log row under the first-appearance coding.
    """
    logs = pd.read_csv(fetch("frappe", "frappe.csv.gz", root=root), sep="\t")
    logs = logs.rename(columns={"user": "user_id", "item": "item_id"})
    meta = pd.read_csv(
        fetch("frappe", "meta.csv.gz", root=root), sep="\t", dtype=str, keep_default_na=False
    ).rename(columns={"item": "item_id"})
    meta["item_id"] = meta["item_id"].astype(np.int64)
    vocabularies = {f: np.asarray(pd.unique(logs[f])) for f in FRAPPE_FIELDS}  # first appearance
    sizes = np.array([len(vocabularies[f]) for f in FRAPPE_FIELDS])
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    validation = _read_libfm(
        fetch("frappe", "nfm/frappe.validation.libfm.gz", root=root), offsets, sizes
    )
    test = _read_libfm(fetch("frappe", "nfm/frappe.test.libfm.gz", root=root), offsets, sizes)
    data = FrappeData(logs, meta, validation, test, vocabularies)
    _frappe_unused_positives(data)  # raises if the files do not belong together
    return data


def _row_keys(codes: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """One int64 per row of per-field codes (mixed radix; 5,382 values fit easily)."""
    key = np.zeros(len(codes), dtype=np.int64)
    for j, size in enumerate(sizes):
        key = key * int(size) + codes[:, j]
    return key


def _frappe_unused_positives(data: FrappeData) -> pd.DataFrame:
    """Log rows (coded) left after removing, as a multiset, the positives of validation and test."""
    coded = data.encode(data.logs)
    sizes = np.array([data.field_sizes[f] for f in FRAPPE_FIELDS])
    log_key = _row_keys(coded.to_numpy(), sizes)
    held = pd.concat([data.validation, data.test])
    held = held[held["label"] == 1][list(FRAPPE_FIELDS)].to_numpy()
    held_keys, held_counts = np.unique(_row_keys(held, sizes), return_counts=True)
    have = pd.Series(log_key).value_counts().reindex(held_keys, fill_value=0).to_numpy()
    if (held_counts > have).any():
        missing = int((held_counts - np.minimum(held_counts, have)).sum())
        raise DataError(
            f"frappe: {missing} positives of the NFM files are not rows of frappe.csv; "
            "the files do not belong together"
        )
    taken = pd.Series(held_counts, index=held_keys).reindex(log_key, fill_value=0).to_numpy()
    occurrence = pd.Series(log_key).groupby(log_key).cumcount().to_numpy()
    return coded[occurrence >= taken]


#: How :func:`rebuild_frappe_train` cuts the instances: ``"positive"`` keeps every train
#: positive with all its negatives; ``"instance"`` mimics a 70/20/10 cut over all instances.
FRAPPE_CUTS = ("positive", "instance")


def rebuild_frappe_train(
    data: FrappeData, *, negatives_per_positive: int = 2, seed: int = 0, cut: str = "positive"
) -> pd.DataFrame:
    """Rebuild a Frappe train split for the NFM validation/test files (``frappe-nfm-x1-rebuilt``).

    The NFM train file is not available and its negatives were random, so it cannot be rebuilt
    exactly. This function makes a train split of the same design:

    1. positives: the log rows that are not positives of validation or test (removed as a
       multiset: a log row that occurs ``k`` times and is held out ``h`` times stays ``k - h``
       times), 67,604 rows;
    2. negatives: for each positive, ``negatives_per_positive`` rows with the same user and
       context and an item drawn uniformly from the items that user never used in the whole log
       (the rule the NFM negatives follow: none of them is a logged user-item pair), seeded.

    With the default 2 negatives this gives 202,812 rows (the original had 202,027: its 70/20/10
    cut was made over the 288,609 instances, not per positive). A rebuilt negative may coincide
    with a validation or test negative; both are random draws from the same rule.

    ``cut="instance"`` mimics that cut instead (``frappe-nfm-x1-rebuilt-instance-cut``, a
    diagnostic). Every positive of the log, train, validation and test alike, gets its
    ``negatives_per_positive`` negatives by the rule above. Train keeps its own positives and a
    uniform random subset of all those negatives, as many as the published files leave for train
    (all negatives minus the validation and test negatives: 134,423 of 192,406). So, as in the
    original file, a train positive may have lost some of its negatives to the held-out files, and
    the negatives of a validation or test positive may sit in train (about 70% of them do). With 2
    negatives this gives 202,027 rows, 67,604 of them positive, the counts of the original train
    file. The rows come out positives first, then negatives.

    Returns:
        A DataFrame with ``label`` and the field codes, columns as ``FrappeData.validation``;
        with ``cut="positive"`` each positive is followed by its negatives.

    Raises:
        ValueError: ``negatives_per_positive`` is not an integer >= 0, ``cut`` is not one of
            :data:`FRAPPE_CUTS`, or (``cut="instance"``) the held-out files have more negatives
            than the sampled ones, so none would be left for train.
    """
    if not isinstance(negatives_per_positive, int) or negatives_per_positive < 0:
        raise ValueError(
            f"negatives_per_positive must be an integer >= 0, got {negatives_per_positive!r}"
        )
    if cut not in FRAPPE_CUTS:
        raise ValueError(f"cut must be one of {FRAPPE_CUTS}, got {cut!r}")
    positives = _frappe_unused_positives(data)
    num_items = data.field_sizes["item_id"]
    coded_logs = data.encode(data.logs)
    seen = SeenItems.from_pairs(
        coded_logs["user_id"].to_numpy(), coded_logs["item_id"].to_numpy(), num_items
    )
    sampler = UniformNegativeSampler(num_items, seen=seen, seed=seed)
    k = negatives_per_positive
    if cut == "instance":
        return _frappe_instance_cut(data, positives, sampler, k, seed)
    block = np.repeat(positives.to_numpy()[:, None, :], k + 1, axis=1)  # (P, 1 + k, fields)
    if k:
        block[:, 1:, FRAPPE_FIELDS.index("item_id")] = sampler.sample(
            positives["user_id"].to_numpy(), k
        )
    out = pd.DataFrame(block.reshape(-1, len(FRAPPE_FIELDS)), columns=list(FRAPPE_FIELDS))
    label = np.zeros((len(positives), k + 1), dtype=np.int64)
    label[:, 0] = 1
    out.insert(0, "label", label.reshape(-1))
    return out


def _frappe_instance_cut(
    data: FrappeData, positives: pd.DataFrame, sampler, k: int, seed: int
) -> pd.DataFrame:
    """``rebuild_frappe_train(cut="instance")``: train positives plus a random share of all negatives."""
    fields = list(FRAPPE_FIELDS)
    held = pd.concat([data.validation, data.test])
    held_pos = held[held["label"] == 1][fields]
    held_negatives = int((held["label"] == 0).sum())
    every = np.concatenate([positives[fields].to_numpy(), held_pos.to_numpy()])  # every logged positive
    negatives = np.repeat(every[:, None, :], k, axis=1)  # (P_all, k, fields)
    if k:
        negatives[:, :, fields.index("item_id")] = sampler.sample(every[:, fields.index("user_id")], k)
    negatives = negatives.reshape(-1, len(fields))
    keep = len(negatives) - held_negatives
    if keep < 0:
        raise ValueError(
            f"cut='instance': the validation and test files hold {held_negatives} negatives but "
            f"only {len(negatives)} were sampled ({k} per positive); use more negatives_per_positive"
        )
    rng = np.random.default_rng([seed, 70_20_10])  # its own stream: the draws above stay as they are
    chosen = np.sort(rng.choice(len(negatives), size=keep, replace=False))
    out = pd.DataFrame(
        np.concatenate([positives[fields].to_numpy(), negatives[chosen]]), columns=fields
    )
    label = np.zeros(len(out), dtype=np.int64)
    label[: len(positives)] = 1
    out.insert(0, "label", label)
    return out


def frappe_ctr(
    *, seed: int = 0, root: Root = None, data: FrappeData | None = None, cut: str = "positive"
) -> TableSplit:
    """Frappe CTR tables: rebuilt train, NFM validation and test (``frappe-nfm-x1-rebuilt``).

    Features: one sparse feature per field (``user_ids``, ``item_ids``, ``daytime``, ``weekday``,
    ``isweekend``, ``homework``, ``cost``, ``weather``, ``country``, ``city``) with id = field code
    + 1 (``0`` is padding; every value of the log has an id, as in the NFM files). Label:
    ``label`` (float 0/1). ``seed`` drives the rebuilt train negatives. ``cut`` is passed to
    :func:`rebuild_frappe_train`; ``"instance"`` names the protocol
    ``frappe-nfm-x1-rebuilt-instance-cut``.
    """
    fr = data if data is not None else load_frappe(root=root)
    train = rebuild_frappe_train(fr, seed=seed, cut=cut)
    names = {"user_id": "user_ids", "item_id": "item_ids"}
    features = [
        Feature(names.get(f, f), "sparse", vocab_size=fr.field_sizes[f] + 1) for f in FRAPPE_FIELDS
    ]
    schema = Schema([*features, Feature("label", "label")])
    parts = []
    for frame in (train, fr.validation, fr.test):
        cols = {names.get(f, f): frame[f].to_numpy() + 1 for f in FRAPPE_FIELDS}
        cols["label"] = frame["label"].to_numpy().astype(np.float32)
        parts.append(FeatureTable(cols, schema))
    vocabularies = {names.get(f, f): v for f, v in fr.vocabularies.items()}
    protocol = "frappe-nfm-x1-rebuilt" + ("-instance-cut" if cut == "instance" else "")
    params = {"seed": seed} if cut == "positive" else {"seed": seed, "cut": cut}
    return TableSplit(*parts, schema, protocol, vocabularies, params)


# -- Census-Income --------------------------------------------------------------------------------
#: The 42 columns of the UCI Census-Income (KDD) files, in file order (``census-income.names``).
CENSUS_COLUMNS: tuple[str, ...] = (
    "age", "class_of_worker", "industry_code", "occupation_code", "education", "wage_per_hour",
    "enrolled_in_edu_last_week", "marital_status", "major_industry", "major_occupation", "race",
    "hispanic_origin", "sex", "labor_union_member", "unemployment_reason", "employment_status",
    "capital_gains", "capital_losses", "dividends", "tax_filer_status", "previous_region",
    "previous_state", "household_family_status", "household_summary", "instance_weight",
    "migration_msa", "migration_region", "migration_within_region", "same_house_1_year_ago",
    "migration_sunbelt", "num_persons_worked_for_employer", "family_members_under_18",
    "father_birth_country", "mother_birth_country", "birth_country", "citizenship",
    "own_business_or_self_employed", "veterans_questionnaire", "veterans_benefits",
    "weeks_worked", "year", "income",
)  # fmt: skip

_CENSUS_DENSE = (
    "age",
    "wage_per_hour",
    "capital_gains",
    "capital_losses",
    "dividends",
    "weeks_worked",
)
_CENSUS_NOT_INPUT = ("education", "marital_status", "instance_weight", "income")


def load_census_income(*, root: Root = None) -> pd.DataFrame:
    """Load the Census-Income (KDD) test file (99,762 rows; the train file is not available).

    Columns: the 42 of `CENSUS_COLUMNS` (numbers as int64, ``instance_weight`` float64,
    the rest str with the file's leading space removed; ``"?"`` kept as a value), plus the two task
    labels of the MMoE paper: ``income_50k`` (int64, 1 when ``income == "50000+."``; 6,186 rows)
    and ``never_married`` (int64, 1 when ``marital_status == "Never married"``).
    """
    frame = pd.read_csv(
        fetch("census-income", "census-income.test.gz", root=root),
        header=None,
        names=list(CENSUS_COLUMNS),
        skipinitialspace=True,
        keep_default_na=False,
        na_values=[],
    )
    if frame.shape != (99_762, 42):
        raise DataError(f"census-income: expected 99,762 rows x 42 columns, got {frame.shape}")
    frame["income_50k"] = (frame["income"] == "50000+.").astype(np.int64)
    frame["never_married"] = (frame["marital_status"] == "Never married").astype(np.int64)
    return frame


def census_income_split(
    *, seed: int = 0, root: Root = None, frame: pd.DataFrame | None = None
) -> Split:
    """The stated random 60/20/20 split of the Census test file (``census-random-60-20-20``)."""
    frame = frame if frame is not None else load_census_income(root=root)
    split = random_split(frame, (0.6, 0.2, 0.2), seed=seed)
    return Split(split.train, split.valid, split.test, "census-random-60-20-20", split.params)


def census_income_mtl(
    *,
    seed: int = 0,
    vocab: VocabMode = "train",
    root: Root = None,
    frame: pd.DataFrame | None = None,
) -> TableSplit:
    """Census multi-task tables (``census-random-60-20-20``), as in the MMoE paper's set-up.

    Inputs: every column except ``education`` and ``marital_status`` (removed because they define
    or leak the tasks), ``instance_weight`` and ``income``. The six numeric columns
    (``age``, ``wage_per_hour``, ``capital_gains``, ``capital_losses``, ``dividends``,
    ``weeks_worked``) are dense, standardised with the training rows' mean and standard deviation;
    the other 32 are sparse ids (vocabulary as in `movielens_1m_ctr`, ``vocab``). Labels:
    ``income_50k`` and ``never_married`` (float 0/1).

    Note: ``household_family_status`` and ``household_summary`` still say "never married" for
    children, as in the original set-up; that is why the marital task is easy (AUC near 0.99).

    Args:
        seed: the split seed.
        vocab: ``"train"`` or ``"full"`` (see [`movielens_1m_ctr`][recnotes.data.datasets.movielens_1m_ctr]).
        root: the data directory.
        frame: the output of [`load_census_income`][recnotes.data.datasets.load_census_income], if
            already loaded.
    """
    _check_mode(vocab)
    frame = frame if frame is not None else load_census_income(root=root)
    split = census_income_split(seed=seed, frame=frame)
    part = _split_part(split, len(frame))
    train_rows = part == 0
    columns: dict[str, np.ndarray] = {}
    vocabularies: dict[str, np.ndarray] = {}
    features: list[Feature] = []
    for name in CENSUS_COLUMNS:
        if name in _CENSUS_NOT_INPUT:
            continue
        values = frame[name]
        if name in _CENSUS_DENSE:
            x = values.to_numpy(dtype=np.float64)
            mean, std = x[train_rows].mean(), x[train_rows].std()
            columns[name] = ((x - mean) / (std if std > 0 else 1.0)).astype(np.float32)
            features.append(Feature(name, "dense"))
        else:
            ids, vocabulary = _encode(values, train_rows, vocab)
            columns[name] = ids
            vocabularies[name] = vocabulary
            features.append(Feature(name, "sparse", vocab_size=len(vocabulary) + 1))
    for label in ("income_50k", "never_married"):
        columns[label] = frame[label].to_numpy().astype(np.float32)
        features.append(Feature(label, "label"))
    schema = Schema(features)
    train, valid, test = _tables(columns, schema, part)
    params = {"seed": seed, "vocab": vocab, "ratios": (0.6, 0.2, 0.2)}
    return TableSplit(train, valid, test, schema, "census-random-60-20-20", vocabularies, params)


# -- the dispatcher -------------------------------------------------------------------------------
@dataclass(frozen=True)
class DatasetSpec:
    """A loadable dataset: its name, a one-line description and the function that loads it."""

    name: str
    description: str
    loader: Callable[..., Any]


#: Every dataset `load` knows, in the order of the data page.
DATASETS: tuple[DatasetSpec, ...] = (
    DatasetSpec("ml-1m", "MovieLens-1M ratings, users and movies (timestamps for users 1-2999)", load_movielens_1m),
    DatasetSpec("ml-1m-ncf", "ML-1M leave-one-out positives, test items and 99 negatives of NCF", load_ncf_movielens_1m),
    DatasetSpec("ml-1m-ctr", "ML-1M CTR tables, ratings 4-5 vs 1-2, random 80/10/10 (DCN-V2)", movielens_1m_ctr),
    DatasetSpec("ml-100k", "MovieLens-100K ratings, users and items", load_movielens_100k),
    DatasetSpec("amazon-beauty", "Amazon Beauty 5-core sequences with titles and attributes (S3-Rec)", lambda **kw: load_amazon("beauty", **kw)),
    DatasetSpec("amazon-sports", "Amazon Sports and Outdoors 5-core sequences (S3-Rec)", lambda **kw: load_amazon("sports", **kw)),
    DatasetSpec("amazon-toys", "Amazon Toys and Games 5-core sequences (S3-Rec)", lambda **kw: load_amazon("toys", **kw)),
    DatasetSpec("frappe", "Frappe app-usage logs, metadata and the NFM validation/test files", load_frappe),
    DatasetSpec("frappe-ctr", "Frappe CTR tables: rebuilt train, NFM validation and test", frappe_ctr),
    DatasetSpec("census-income", "Census-Income (KDD) test file with income and never-married labels", load_census_income),
    DatasetSpec("census-income-mtl", "Census multi-task tables, random 60/20/20 split", census_income_mtl),
)  # fmt: skip


def load(name: str, **kwargs: Any) -> Any:
    """Load a dataset by name (see `DATASETS`); keyword arguments go to its loader.

    Raises:
        UnknownDatasetError: ``name`` is not in `DATASETS`.
    """
    for spec in DATASETS:
        if spec.name == name:
            return spec.loader(**kwargs)
    known = ", ".join(spec.name for spec in DATASETS)
    raise UnknownDatasetError(f"unknown dataset {name!r}; known: {known}")
