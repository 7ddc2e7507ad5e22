"""Negative samplers: uniform (optionally excluding seen items), popularity-based, and fixed lists.

Implicit-feedback training and sampled evaluation need items a user did *not* interact with.
Every sampler here has one method, ``sample(user_ids, num_negatives) -> (B, num_negatives)``, is
seeded at construction (the same seed and the same calls give the same draws), accepts numpy
arrays or torch tensors and answers in the same kind, and never loops in Python over rows.

* `UniformNegativeSampler` draws uniformly from ``num_items`` ids, optionally from the
  items a user has **not** seen. The exclusion is exact and needs no rejection loop: with the
  user's seen ids sorted, ``s_0 < s_1 < ...``, the ``r``-th unseen id is ``r + k`` where
  ``k = #{j : s_j - j <= r}``, found with one ``searchsorted`` over a CSR of seen items.
* `PopularityNegativeSampler` draws item ``i`` with probability proportional to
  ``count_i ** alpha`` (``alpha = 0.75`` as in word2vec; ``alpha = 0`` is uniform over items
  with a nonzero count), with vectorised rejection of seen items.
* `FixedNegatives` returns a precomputed list per user, such as the 99 negatives of the
  NCF evaluation protocol.

Negatives drawn for one row are independent: the same id may appear twice in a row (as in NCF's
training sampler). Ids are ``first_id, ..., first_id + num_items - 1``; use ``first_id=1`` when
id ``0`` is padding.

Example:
    >>> import numpy as np
    >>> seen = SeenItems.from_pairs(users=[0, 0, 1], items=[0, 1, 2], num_items=4)
    >>> sampler = UniformNegativeSampler(4, seen=seen, seed=0)
    >>> negs = sampler.sample(np.array([0, 0, 1]), 5)
    >>> negs.shape, bool(np.isin(negs[:2], [0, 1]).any()), bool((negs[2] == 2).any())
    ((3, 5), False, False)
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

__all__ = [
    "SeenItems",
    "UniformNegativeSampler",
    "PopularityNegativeSampler",
    "FixedNegatives",
    "SamplingError",
    "read_ncf_negatives",
]


class SamplingError(ValueError):
    """A sampler was built or called with impossible arguments (e.g. a user who has seen every item)."""


def _as_ids(x: Any, name: str) -> np.ndarray:
    arr = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if arr.ndim != 1:
        raise SamplingError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        raise SamplingError(f"{name} must hold integer ids, got dtype {arr.dtype}")
    return arr.astype(np.int64, copy=False)


def _like(result: np.ndarray, template: Any) -> Any:
    if isinstance(template, torch.Tensor):
        return torch.from_numpy(result).to(template.device)
    return result


def _check_count(num_negatives: Any) -> int:
    if not isinstance(num_negatives, int | np.integer) or num_negatives < 1:
        raise SamplingError(f"num_negatives must be a positive integer, got {num_negatives!r}")
    return int(num_negatives)


class SeenItems:
    """Each user's set of seen item ids, as a CSR matrix (``indptr``, sorted unique ``indices``).

    Args:
        indptr: ``(U + 1,)`` offsets; user ``u``'s items are ``indices[indptr[u]:indptr[u + 1]]``.
        indices: item ids relative to ``first_id`` (``0 <= id < num_items``), sorted per user.
        num_items: size of the item range.

    Users ``>= U`` (never seen in the data) have no seen items.
    """

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, num_items: int) -> None:
        self.indptr = np.asarray(indptr, dtype=np.int64)
        self.indices = np.asarray(indices, dtype=np.int64)
        self.num_items = int(num_items)
        self.num_users = len(self.indptr) - 1
        self.counts = np.diff(self.indptr)
        rows = np.repeat(np.arange(self.num_users, dtype=np.int64), self.counts)
        self._keys = rows * self.num_items + self.indices  # globally sorted

    @classmethod
    def from_pairs(
        cls,
        users: Sequence[int] | np.ndarray | torch.Tensor,
        items: Sequence[int] | np.ndarray | torch.Tensor,
        num_items: int,
        *,
        first_id: int = 0,
        num_users: int | None = None,
    ) -> SeenItems:
        """Build from parallel arrays of (user, item) interactions (duplicates are fine).

        Raises:
            SamplingError: an item id is outside ``[first_id, first_id + num_items)`` or a user
                id is negative.
        """
        u = _as_ids(users, "users")
        i = _as_ids(items, "items") - first_id
        if len(u) != len(i):
            raise SamplingError(f"users and items differ in length ({len(u)} vs {len(i)})")
        if len(i) and (i.min() < 0 or i.max() >= num_items):
            raise SamplingError(
                f"item ids must lie in [{first_id}, {first_id + num_items}), "
                f"found {int(i.min()) + first_id}..{int(i.max()) + first_id}"
            )
        if len(u) and u.min() < 0:
            raise SamplingError(f"user ids must be >= 0, found {int(u.min())}")
        n_users = int(u.max()) + 1 if len(u) else 0
        if num_users is not None:
            n_users = max(n_users, int(num_users))
        keys = np.sort(u * num_items + i)  # np.sort + a diff is much faster than np.unique
        if len(keys):
            keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
        rows, cols = np.divmod(keys, num_items)
        indptr = np.zeros(n_users + 1, dtype=np.int64)
        np.cumsum(np.bincount(rows, minlength=n_users), out=indptr[1:])
        return cls(indptr, cols, num_items)

    @classmethod
    def from_frame(
        cls,
        frame: pd.DataFrame,
        num_items: int,
        *,
        user_col: str = "user_id",
        item_col: str = "item_id",
        first_id: int = 0,
    ) -> SeenItems:
        """Build from the user and item columns of an interactions DataFrame."""
        return cls.from_pairs(
            frame[user_col].to_numpy(), frame[item_col].to_numpy(), num_items, first_id=first_id
        )

    def count(self, users: np.ndarray) -> np.ndarray:
        """Number of seen items of each user (0 for users beyond the table)."""
        out = np.zeros(len(users), dtype=np.int64)
        known = users < self.num_users
        out[known] = self.counts[users[known]]
        return out

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Boolean array: has ``users[k]`` seen ``items[k]`` (relative ids)? Shapes broadcast."""
        users, items = np.broadcast_arrays(users, items)
        q = users.astype(np.int64) * self.num_items + items
        pos = np.searchsorted(self._keys, q)
        hit = np.zeros(q.shape, dtype=bool)
        ok = pos < len(self._keys)
        hit[ok] = self._keys[pos[ok]] == q[ok]
        return hit & (users < self.num_users)


class UniformNegativeSampler:
    """Uniform negatives, optionally excluding each user's seen items (exactly, without rejection).

    Args:
        num_items: number of candidate ids.
        seen: the items to exclude per user (`SeenItems`), or ``None`` for plain uniform.
        first_id: the smallest id (``1`` when ``0`` is padding).
        seed: seed of the sampler's ``numpy`` generator.

    Example:
        >>> import torch
        >>> sampler = UniformNegativeSampler(10, first_id=1, seed=3)
        >>> negs = sampler.sample(torch.tensor([0, 1]), 4)
        >>> negs.shape, negs.dtype, bool(((negs >= 1) & (negs <= 10)).all())
        (torch.Size([2, 4]), torch.int64, True)
    """

    def __init__(
        self, num_items: int, seen: SeenItems | None = None, *, first_id: int = 0, seed: int = 0
    ) -> None:
        if not isinstance(num_items, int | np.integer) or num_items < 1:
            raise SamplingError(f"num_items must be a positive integer, got {num_items!r}")
        if seen is not None and not isinstance(seen, SeenItems):
            raise SamplingError(
                f"seen must be a SeenItems (see SeenItems.from_pairs), got {type(seen).__name__}"
            )
        if seen is not None and seen.num_items != num_items:
            raise SamplingError(
                f"seen was built for {seen.num_items} items, the sampler has {num_items}"
            )
        self.num_items = int(num_items)
        self.seen = seen
        self.first_id = int(first_id)
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        if seen is not None:
            # s_j - j (local j) per user: non-decreasing inside a user's segment
            local = np.arange(len(seen.indices)) - np.repeat(seen.indptr[:-1], seen.counts)
            rows = np.repeat(np.arange(seen.num_users, dtype=np.int64), seen.counts)
            self._shifted = rows * (self.num_items + 1) + (seen.indices - local)

    def reset(self, seed: int | None = None) -> None:
        """Restart the generator (from ``seed``, default the construction seed)."""
        self.rng = np.random.default_rng(self.seed if seed is None else seed)

    def sample(self, user_ids: Any, num_negatives: int) -> Any:
        """Draw ``num_negatives`` negatives per user: an ``int64`` array (or tensor) ``(B, n)``.

        Raises:
            SamplingError: a user has seen every item, so no negative exists.
        """
        users = _as_ids(user_ids, "user_ids")
        n = _check_count(num_negatives)
        if self.seen is None:
            out = self.rng.integers(0, self.num_items, size=(len(users), n))
            return _like(out + self.first_id, user_ids)
        seen_count = self.seen.count(users)
        free = self.num_items - seen_count
        if (free <= 0).any():
            bad = np.unique(users[free <= 0])[:5].tolist()
            raise SamplingError(
                f"users {bad} have seen all {self.num_items} items: no negative exists"
            )
        r = self.rng.integers(0, free[:, None], size=(len(users), n))  # rank among unseen items
        known = users < self.seen.num_users
        item = r.copy()
        if known.any():
            u = users[known][:, None]
            q = u * (self.num_items + 1) + r[known]
            k = np.searchsorted(self._shifted, q, side="right") - self.seen.indptr[u]
            item[known] = r[known] + k
        return _like(item + self.first_id, user_ids)


class PopularityNegativeSampler:
    """Negatives drawn with probability proportional to ``count ** alpha``.

    Args:
        counts: ``(num_items,)`` non-negative interaction counts (index ``k`` is id ``first_id + k``).
        alpha: the exponent; ``0.75`` (word2vec) flattens popularity, ``1`` follows it, ``0`` is
            uniform over items with a nonzero count. Items with count 0 are never drawn.
        seen: items to exclude per user (rejected and redrawn, vectorised).
        first_id: the smallest id.
        seed: seed of the generator.
        max_rounds: redraw rounds before giving up on users whose unseen mass is tiny.

    Example:
        >>> sampler = PopularityNegativeSampler([0, 1, 1, 10], alpha=1.0, seed=0)
        >>> negs = sampler.sample([0] * 1000, 1)
        >>> bool((negs != 0).all()), bool((negs == 3).mean() > 0.7)
        (True, True)
    """

    def __init__(
        self,
        counts: Sequence[float] | np.ndarray,
        *,
        alpha: float = 0.75,
        seen: SeenItems | None = None,
        first_id: int = 0,
        seed: int = 0,
        max_rounds: int = 1000,
    ) -> None:
        c = np.asarray(counts, dtype=np.float64)
        if c.ndim != 1 or c.size == 0:
            raise SamplingError(f"counts must be a non-empty 1-D array, got shape {c.shape}")
        if not np.isfinite(c).all() or (c < 0).any():
            raise SamplingError("counts must be finite and >= 0")
        if not np.isfinite(alpha) or alpha < 0:
            raise SamplingError(f"alpha must be a finite number >= 0, got {alpha!r}")
        weights = np.where(c > 0, c**alpha, 0.0)
        if weights.sum() <= 0:
            raise SamplingError("every count is zero: nothing can be sampled")
        if seen is not None and not isinstance(seen, SeenItems):
            raise SamplingError(f"seen must be a SeenItems, got {type(seen).__name__}")
        if seen is not None and seen.num_items != c.size:
            raise SamplingError(f"seen was built for {seen.num_items} items, counts has {c.size}")
        self.probs = weights / weights.sum()
        self._cdf = np.cumsum(self.probs)
        self.num_items = c.size
        self.alpha = float(alpha)
        self.seen = seen
        self.first_id = int(first_id)
        self.seed = seed
        self.max_rounds = int(max_rounds)
        self.rng = np.random.default_rng(seed)
        if seen is not None:  # probability mass each user has already seen
            rows = np.repeat(np.arange(seen.num_users), seen.counts)
            self._seen_mass = np.bincount(
                rows, weights=self.probs[seen.indices], minlength=seen.num_users
            )

    def reset(self, seed: int | None = None) -> None:
        """Restart the generator (from ``seed``, default the construction seed)."""
        self.rng = np.random.default_rng(self.seed if seed is None else seed)

    def _draw(self, size: int | tuple[int, ...]) -> np.ndarray:
        u = self.rng.random(size) * self._cdf[-1]
        return np.minimum(np.searchsorted(self._cdf, u, side="right"), self.num_items - 1)

    def sample(self, user_ids: Any, num_negatives: int) -> Any:
        """Draw ``num_negatives`` per user: an ``int64`` array (or tensor) ``(B, n)``.

        Raises:
            SamplingError: a user's unseen items have zero probability, or rejection did not
                finish within ``max_rounds``.
        """
        users = _as_ids(user_ids, "user_ids")
        n = _check_count(num_negatives)
        out = self._draw((len(users), n))
        if self.seen is not None and len(users):
            known = users < self.seen.num_users
            full = np.zeros(len(users), dtype=bool)
            full[known] = self._seen_mass[users[known]] >= 1 - 1e-12
            if full.any():
                bad_users = np.unique(users[full])[:5].tolist()
                raise SamplingError(
                    f"users {bad_users} have seen every item with nonzero probability"
                )
            rows = np.broadcast_to(users[:, None], out.shape)
            bad = self.seen.contains(rows, out)
            for _ in range(self.max_rounds):
                if not bad.any():
                    break
                out[bad] = self._draw(int(bad.sum()))
                bad[bad] = self.seen.contains(rows[bad], out[bad])
            else:
                raise SamplingError(
                    f"rejection sampling did not finish in {self.max_rounds} rounds; some users have "
                    "seen nearly all the probability mass (lower alpha or use UniformNegativeSampler)"
                )
        return _like(out + self.first_id, user_ids)


class FixedNegatives:
    """A fixed list of negatives per user (e.g. the 99 of the NCF protocol).

    Args:
        negatives: ``(U, K)`` integer array; row ``u`` holds user ``u``'s negatives.

    Example:
        >>> import numpy as np
        >>> fixed = FixedNegatives(np.array([[5, 6, 7], [8, 9, 10]]))
        >>> fixed.sample(np.array([1, 0])).tolist()
        [[8, 9, 10], [5, 6, 7]]
    """

    def __init__(self, negatives: np.ndarray | torch.Tensor) -> None:
        arr = negatives.numpy() if isinstance(negatives, torch.Tensor) else np.asarray(negatives)
        if arr.ndim != 2 or arr.shape[1] < 1:
            raise SamplingError(f"negatives must be a (num_users, K) array, got shape {arr.shape}")
        if not np.issubdtype(arr.dtype, np.integer):
            raise SamplingError(f"negatives must be integer ids, got dtype {arr.dtype}")
        self.negatives = arr.astype(np.int64)
        self.num_users, self.num_negatives = arr.shape

    @classmethod
    def from_file(cls, path: str | Path) -> FixedNegatives:
        """Read an NCF ``*.test.negative`` file (plain or gzipped); see `read_ncf_negatives`."""
        users, _, negatives = read_ncf_negatives(path)
        if not np.array_equal(users, np.arange(len(users))):
            raise SamplingError(f"{path}: rows are not users 0..{len(users) - 1} in order")
        return cls(negatives)

    def sample(self, user_ids: Any, num_negatives: int | None = None) -> Any:
        """The fixed negatives of each user, ``(B, K)``; ``num_negatives`` must be ``None`` or ``K``."""
        users = _as_ids(user_ids, "user_ids")
        if num_negatives is not None and num_negatives != self.num_negatives:
            raise SamplingError(
                f"these fixed negatives have {self.num_negatives} per user, asked for {num_negatives}"
            )
        if len(users) and (users.min() < 0 or users.max() >= self.num_users):
            raise SamplingError(
                f"user ids must lie in [0, {self.num_users}), got {users.min()}..{users.max()}"
            )
        return _like(self.negatives[users], user_ids)


def read_ncf_negatives(path: str | Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Parse NCF's ``(user,item)\\tneg_1\\t...\\tneg_K`` lines.

    Returns:
        ``users (N,)``, ``items (N,)`` (the held-out item of each line) and ``negatives (N, K)``,
        all ``int64``.
    """
    frame = pd.read_csv(path, sep="\t", header=None, compression="infer")
    head = frame[0].astype(str).str.extract(r"^\((\d+),(\d+)\)$")
    if head.isna().any().any():
        raise SamplingError(f"{path}: the first field of each line must look like '(user,item)'")
    negatives = frame.iloc[:, 1:].to_numpy()
    if not np.issubdtype(negatives.dtype, np.integer):
        raise SamplingError(f"{path}: negatives must be integers (is a line short or malformed?)")
    return (
        head[0].astype(np.int64).to_numpy(),
        head[1].astype(np.int64).to_numpy(),
        negatives.astype(np.int64),
    )
