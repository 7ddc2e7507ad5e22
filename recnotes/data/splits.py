"""Named split protocols over an interactions table.

Each function takes a `pandas.DataFrame` of interactions (one row per event, with at least a
user column) and returns a `Split` of three DataFrames that keep the original index and
column order, plus the protocol's name and parameters, so a results file can say exactly how the
data was cut. Everything is vectorised (sorts, ``groupby().cumcount()``, permutations); no Python
runs per row.

| protocol | rule |
|---|---|
| `leave-one-out` | per user, the last event (by time or by the given order) is the test event, optionally the second-to-last the validation event |
| `temporal-global` | one time cut for everybody: events before it train, after it test |
| `temporal-per-user` | per user, the first fraction of their events (in time) trains, the rest is validation and test |
| `random` | rows shuffled with a seed and cut by ratio |
| `user` | users shuffled with a seed and cut by ratio (cold start: no test user is seen in training) |

Example:
    >>> import pandas as pd
    >>> frame = pd.DataFrame({"user_id": [1, 1, 1, 2, 2],
    ...                       "item_id": [10, 11, 12, 10, 13],
    ...                       "timestamp": [5, 3, 9, 1, 2]})
    >>> split = leave_one_out(frame)
    >>> split.test["item_id"].tolist(), split.train["item_id"].tolist()
    ([12, 13], [10, 11, 10])
    >>> split.protocol, split.sizes()
    ('leave-one-out', {'train': 3, 'valid': 0, 'test': 2})
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "Split",
    "SplitError",
    "leave_one_out",
    "temporal_split",
    "random_split",
    "user_split",
    "check_ratios",
]


class SplitError(ValueError):
    """A split was asked for with impossible arguments (bad ratios, missing column, NaN times)."""


@dataclass(frozen=True, eq=False)
class Split:
    """Train, validation and test rows of one protocol.

    Attributes:
        train, valid, test: DataFrames with the input's columns and original index; ``valid`` is
            empty (same columns) when the protocol has no validation part.
        protocol: the protocol's name (``"leave-one-out"``, ``"random"``, ...).
        params: the arguments that, with the protocol name, reproduce the split.
    """

    train: pd.DataFrame
    valid: pd.DataFrame
    test: pd.DataFrame
    protocol: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """Row counts of the three parts."""
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}

    def __iter__(self) -> Iterator[pd.DataFrame]:
        """Unpack as ``train, valid, test = split``."""
        return iter((self.train, self.valid, self.test))

    def __repr__(self) -> str:
        return (
            f"Split(protocol={self.protocol!r}, sizes={self.sizes()}, params={dict(self.params)})"
        )


# -- argument checks ----------------------------------------------------------------------------
def check_ratios(ratios: Sequence[float]) -> tuple[float, float, float]:
    """Validate ``(train, test)`` or ``(train, valid, test)`` fractions; return three of them.

    Raises:
        SplitError: not 2 or 3 numbers, a negative or non-finite one, a zero train share, or a
            sum other than 1.

    Example:
        >>> check_ratios((0.8, 0.2))
        (0.8, 0.0, 0.2)
        >>> check_ratios((0.7, 0.2, 0.2))
        Traceback (most recent call last):
        ...
        recnotes.data.splits.SplitError: ratios must sum to 1, got (0.7, 0.2, 0.2) (sum 1.1)
    """
    try:
        values = tuple(float(r) for r in ratios)
    except (TypeError, ValueError) as exc:
        raise SplitError(f"ratios must be a sequence of numbers, got {ratios!r}") from exc
    if len(values) not in (2, 3):
        raise SplitError(
            f"ratios must be (train, test) or (train, valid, test), got {len(values)} numbers"
        )
    if any(not math.isfinite(r) or r < 0 for r in values):
        raise SplitError(f"ratios must be finite and >= 0, got {tuple(ratios)}")
    if values[0] <= 0:
        raise SplitError(f"the train ratio must be > 0, got {values[0]}")
    total = sum(values)
    if abs(total - 1.0) > 1e-6:
        raise SplitError(f"ratios must sum to 1, got {tuple(ratios)} (sum {round(total, 6)})")
    if len(values) == 2:
        return values[0], 0.0, values[1]
    return values  # type: ignore[return-value]


def _need_columns(frame: pd.DataFrame, *columns: str, hint: str = "") -> None:
    if not isinstance(frame, pd.DataFrame):
        raise SplitError(f"expected a pandas DataFrame of interactions, got {type(frame).__name__}")
    for col in columns:
        if col not in frame.columns:
            raise SplitError(
                f"column {col!r} is not in the frame (columns: {list(frame.columns)}){hint}"
            )


def _need_times(frame: pd.DataFrame, col: str) -> np.ndarray:
    values = frame[col]
    if values.isna().any():
        n = int(values.isna().sum())
        raise SplitError(
            f"column {col!r} has {n} missing values; drop those rows first (in ML-1M only users "
            "1-2999 have timestamps) or order by row position instead"
        )
    return values.to_numpy()


def _parts(frame: pd.DataFrame, part: np.ndarray) -> tuple[pd.DataFrame, ...]:
    """``part`` is 0 (train), 1 (valid) or 2 (test) per row; rows keep their original order."""
    return tuple(frame[part == k] for k in (0, 1, 2))


def _rank_within_users(
    users: np.ndarray, times: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: its 0-based rank among its user's rows (by time, ties and ``None`` by row order)
    and the user's number of rows. One stable sort, then group boundaries; no Python per row."""
    n = len(users)
    codes = pd.factorize(users)[0]
    keys = (np.arange(n), codes) if times is None else (np.arange(n), times, codes)
    order = np.lexsort(keys)
    sorted_codes = codes[order]
    starts = (
        np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]])
        if n
        else np.zeros(0, np.int64)
    )
    sizes = np.diff(np.r_[starts, n])
    group = np.repeat(np.arange(len(starts)), sizes)
    rank = np.empty(n, dtype=np.int64)
    size = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[group]
    size[order] = sizes[group]
    return rank, size


def _cut_by_rank(
    rank: np.ndarray, size: np.ndarray, ratios: tuple[float, float, float]
) -> np.ndarray:
    """Part of each row from its rank within a group of ``size`` rows (first share -> train)."""
    n_train = np.floor(size * ratios[0] + 1e-9).astype(np.int64)
    n_valid = np.floor(size * (ratios[0] + ratios[1]) + 1e-9).astype(np.int64) - n_train
    return np.where(rank < n_train, 0, np.where(rank < n_train + n_valid, 1, 2))


# -- protocols ----------------------------------------------------------------------------------
def leave_one_out(
    frame: pd.DataFrame,
    *,
    user_col: str = "user_id",
    order_col: str | None = "timestamp",
    valid: bool = False,
    min_train: int = 1,
) -> Split:
    """Per user, hold out the last event for test (and the one before it for validation).

    Events are ordered within each user by ``order_col`` (ties keep their row order: the later row
    counts as later), or by row order when ``order_col`` is ``None`` (for data whose rows are
    already in time order, like the Amazon sequences).

    Args:
        frame: interactions.
        user_col: the user column.
        order_col: the time (or position) column, or ``None`` to use the row order.
        valid: also hold out the second-to-last event as validation.
        min_train: a user keeps all events in train unless at least this many remain for training
            after holding out (so no user is all test).

    Returns:
        A `Split` with protocol ``"leave-one-out"``; test has one row per eligible user.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"user_id": [7, 7, 7, 8], "item_id": [1, 2, 3, 4]})
        >>> s = leave_one_out(frame, order_col=None, valid=True)
        >>> s.train["item_id"].tolist(), s.valid["item_id"].tolist(), s.test["item_id"].tolist()
        ([1, 4], [2], [3])
    """
    _need_columns(frame, user_col)
    if order_col is not None:
        _need_columns(frame, order_col, hint="; pass order_col=None to use the row order")
    if not isinstance(min_train, int | np.integer) or min_train < 0:
        raise SplitError(f"min_train must be an integer >= 0, got {min_train!r}")
    times = None if order_col is None else _need_times(frame, order_col)
    rank, size = _rank_within_users(frame[user_col].to_numpy(), times)
    from_end = size - 1 - rank
    held = 2 if valid else 1
    eligible = size - held >= max(min_train, 0)
    part = np.zeros(len(frame), dtype=np.int64)
    part[(from_end == 0) & eligible] = 2
    if valid:
        part[(from_end == 1) & eligible] = 1
    train, val, test = _parts(frame, part)
    params = {"user_col": user_col, "order_col": order_col, "valid": valid, "min_train": min_train}
    return Split(train, val, test, "leave-one-out", params)


def temporal_split(
    frame: pd.DataFrame,
    *,
    time_col: str = "timestamp",
    user_col: str = "user_id",
    cut: float | tuple[float, float] | None = None,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    per_user: bool = False,
) -> Split:
    """Split by time: one global cut, or each user's own history by ratio.

    * Global with ``cut``: ``cut = test_start`` or ``(valid_start, test_start)``; an event at time
      ``t`` is train if ``t < valid_start``, validation if ``valid_start <= t < test_start``, test if
      ``t >= test_start``.
    * Global with ``ratios`` (``cut=None``): the cut times are the times at ranks
      ``floor(N * train)`` and ``floor(N * (train + valid))`` of all events sorted by time, then
      applied as above, so events at the same time never straddle a cut (sizes are close to, not
      exactly, the ratios).
    * Per user (``per_user=True``): each user's events sorted by time (ties in row order); the first
      ``floor(n_u * train)`` train, the next ``floor(n_u * (train + valid)) - floor(n_u * train)``
      validate, the rest test. A user with few events may have no test event.

    Args:
        frame: interactions with a time column without missing values.
        time_col: the time column.
        user_col: the user column (per-user mode).
        cut: explicit cut time(s); takes precedence over ``ratios`` (global mode only).
        ratios: ``(train, test)`` or ``(train, valid, test)``.
        per_user: cut each user's history instead of the global timeline.

    Returns:
        A `Split` with protocol ``"temporal-global"`` or ``"temporal-per-user"``; ``params``
        records the cut times actually used.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"user_id": [1, 1, 2, 2], "timestamp": [1, 4, 2, 3]})
        >>> s = temporal_split(frame, cut=3)
        >>> s.train["timestamp"].tolist(), s.test["timestamp"].tolist()
        ([1, 2], [4, 3])
    """
    _need_columns(frame, time_col)
    times = _need_times(frame, time_col)
    if per_user:
        if cut is not None:
            raise SplitError("cut= is a global time cut; per_user=True splits by ratios instead")
        _need_columns(frame, user_col)
        r = check_ratios(ratios)
        rank, size = _rank_within_users(frame[user_col].to_numpy(), times)
        train, val, test = _parts(frame, _cut_by_rank(rank, size, r))
        params = {"time_col": time_col, "user_col": user_col, "ratios": r}
        return Split(train, val, test, "temporal-per-user", params)

    if cut is not None:
        cuts = (cut, cut) if np.ndim(cut) == 0 else tuple(cut)
        if len(cuts) != 2 or cuts[0] > cuts[1]:
            raise SplitError(
                f"cut must be test_start or (valid_start, test_start) with valid_start <= test_start, got {cut!r}"
            )
        valid_start, test_start = cuts
        r = None
    else:
        r = check_ratios(ratios)
        if len(frame) == 0:
            raise SplitError("cannot choose cut times for an empty frame")
        sorted_t = np.sort(times, kind="stable")
        n = len(sorted_t)
        valid_start = sorted_t[min(int(math.floor(n * r[0] + 1e-9)), n - 1)]
        test_start = sorted_t[min(int(math.floor(n * (r[0] + r[1]) + 1e-9)), n - 1)]
        if r[2] == 0:
            test_start = np.inf
    part = np.where(times < valid_start, 0, np.where(times < test_start, 1, 2))
    train, val, test = _parts(frame, part)
    params = {
        "time_col": time_col,
        "valid_start": _scalar(valid_start),
        "test_start": _scalar(test_start),
    }
    if r is not None:
        params["ratios"] = r
    return Split(train, val, test, "temporal-global", params)


def _scalar(x: Any) -> Any:
    return x.item() if isinstance(x, np.generic) else x


def random_split(
    frame: pd.DataFrame, ratios: Sequence[float] = (0.8, 0.1, 0.1), *, seed: int = 0
) -> Split:
    """Shuffle rows with a seed and cut them by ratio.

    Row ``i`` of the input goes to the part of its position in ``numpy.random.default_rng(seed)
    .permutation(N)``: the first ``floor(N * train)`` positions train, the next
    ``floor(N * valid)`` validate, the rest test. Within each part rows keep their original order.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"x": range(10)})
        >>> s = random_split(frame, (0.6, 0.2, 0.2), seed=1)
        >>> s.sizes(), sorted(s.train["x"].tolist() + s.valid["x"].tolist() + s.test["x"].tolist())
        ({'train': 6, 'valid': 2, 'test': 2}, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    """
    _need_columns(frame)
    r = check_ratios(ratios)
    n = len(frame)
    position = np.empty(n, dtype=np.int64)
    position[np.random.default_rng(seed).permutation(n)] = np.arange(n)
    n_train = int(math.floor(n * r[0] + 1e-9))
    n_valid = int(math.floor(n * r[1] + 1e-9))
    part = np.where(position < n_train, 0, np.where(position < n_train + n_valid, 1, 2))
    train, val, test = _parts(frame, part)
    return Split(train, val, test, "random", {"ratios": r, "seed": seed})


def user_split(
    frame: pd.DataFrame,
    ratios: Sequence[float] = (0.8, 0.1, 0.1),
    *,
    seed: int = 0,
    user_col: str = "user_id",
) -> Split:
    """Cut the users (not the rows) into disjoint groups, for cold-start evaluation.

    The distinct users, sorted, are permuted with ``numpy.random.default_rng(seed)``; the first
    ``floor(U * train)`` are training users, the next ``floor(U * valid)`` validation users, the rest
    test users. Every row follows its user.

    Example:
        >>> import pandas as pd
        >>> frame = pd.DataFrame({"user_id": [1, 1, 2, 3, 3, 4], "item_id": range(6)})
        >>> s = user_split(frame, (0.5, 0.5), seed=0)
        >>> set(s.train["user_id"]) & set(s.test["user_id"])
        set()
    """
    _need_columns(frame, user_col)
    r = check_ratios(ratios)
    codes, uniques = pd.factorize(frame[user_col], sort=True)
    u = len(uniques)
    position = np.empty(u, dtype=np.int64)
    position[np.random.default_rng(seed).permutation(u)] = np.arange(u)
    n_train = int(math.floor(u * r[0] + 1e-9))
    n_valid = int(math.floor(u * r[1] + 1e-9))
    user_part = np.where(position < n_train, 0, np.where(position < n_train + n_valid, 1, 2))
    train, val, test = _parts(frame, user_part[codes])
    return Split(train, val, test, "user", {"ratios": r, "seed": seed, "user_col": user_col})
