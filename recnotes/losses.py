"""Training objectives that sample what the data does not say: negatives for implicit feedback.

Implicit feedback records what a user did (watched, clicked, bought) and nothing about what they
disliked. A model trained on the observed pairs alone learns to say "yes" to everything, so every
objective here pairs the observed positives with sampled unobserved items. Each objective is a
callable ``loss_fn(model, batch) -> scalar`` that plugs into
[`Trainer`][recnotes.train.Trainer] as ``loss_fn``; the batch holds positive ``(user, item)`` pairs
only, and the negatives are drawn afresh on every call, so every epoch sees new ones.

* [`SampledNegativeBCE`][recnotes.losses.SampledNegativeBCE]: pointwise log loss, each positive
  against ``num_negatives`` uniformly drawn items the user has no training interaction with
  (NCF, He et al., WWW 2017, Eq. 7).

Example:
    >>> import torch
    >>> seen = (torch.tensor([1, 1, 2]), torch.tensor([1, 2, 3]))  # (user, item) positives
    >>> loss_fn = SampledNegativeBCE(num_items=5, num_negatives=4, seen=seen, seed=0)
    >>> negatives = loss_fn.sample(torch.tensor([1, 2]))
    >>> negatives.shape, bool((negatives[0] > 2).all()), bool((negatives[1] != 3).all())
    (torch.Size([2, 4]), True, True)
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recnotes.data.table import FeatureTable

__all__ = ["SampledNegativeBCE"]

Pairs = tuple[torch.Tensor | np.ndarray, torch.Tensor | np.ndarray]
"""Parallel 1-D arrays ``(user_ids, item_ids)`` of observed interactions."""


def _as_long(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.dim() != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {tuple(t.shape)}")
    if t.is_floating_point() or t.dtype == torch.bool:
        raise ValueError(f"{name} must hold integer ids, got dtype {t.dtype}")
    return t.detach().to("cpu", torch.long)


class SampledNegativeBCE:
    """Pointwise log loss with ``num_negatives`` sampled negatives per positive (NCF, Eq. 7).

    For a batch of ``B`` positive pairs the loss draws ``B x num_negatives`` items uniformly from
    ``first_id .. first_id + num_items - 1``, redraws every item that is a training positive of
    its user (rejection, vectorised: the positives are one sorted array of ``user * stride + item``
    keys, and a draw is looked up with ``torch.searchsorted``), scores all ``B (1 + n)`` pairs in one
    call of ``model(batch)`` and returns the mean binary cross-entropy with label 1 for the
    positives and 0 for the negatives. A user's held-out items are *not* training positives, so
    they can be drawn as negatives, as in NCF.

    Args:
        num_items: number of item ids that can be drawn.
        num_negatives: negatives per positive (NCF: 4).
        seen: the training positives that are never drawn for their user: a ``(user_ids,
            item_ids)`` pair of 1-D integer tensors or arrays, or a
            [`FeatureTable`][recnotes.data.table.FeatureTable] with the ``user_key`` and
            ``item_key`` columns (the training table itself).
        seed: seed of the sampler's own generator (the global torch seed is not touched).
        first_id: the smallest item id; ``1`` when ``0`` is padding, as everywhere in recnotes.
        user_key: batch key of the user ids.
        item_key: batch key of the item ids.
        max_rounds: redraw rounds before giving up (a user with almost every item seen).

    Shapes:
        ``sample(user_ids (B,)) -> (B, n)``; ``loss_fn(model, batch) -> ()``. The model is called
        with ``{user_key: (B (1 + n),), item_key: (B (1 + n),)}`` (the positives first) and must
        return logits ``(B (1 + n),)``; other batch columns are not passed on, so the model must
        score from the two ids alone.

    Raises:
        ValueError: at construction, for impossible arguments or a seen pair outside the item
            range; when sampling, for a user who has seen every item (no negative exists).
    """

    def __init__(
        self,
        num_items: int,
        num_negatives: int = 4,
        seen: Pairs | FeatureTable | None = None,
        *,
        seed: int = 0,
        first_id: int = 1,
        user_key: str = "user_ids",
        item_key: str = "item_ids",
        max_rounds: int = 1000,
    ) -> None:
        if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 2:
            raise ValueError(f"num_items must be an integer >= 2, got {num_items!r}")
        if (
            isinstance(num_negatives, bool)
            or not isinstance(num_negatives, int)
            or num_negatives < 1
        ):
            raise ValueError(f"num_negatives must be an integer >= 1, got {num_negatives!r}")
        if max_rounds < 1:
            raise ValueError(f"max_rounds must be >= 1, got {max_rounds}")
        self.num_items = num_items
        self.num_negatives = num_negatives
        self.first_id = int(first_id)
        self.user_key, self.item_key = user_key, item_key
        self.max_rounds = int(max_rounds)
        self.seed = seed
        self.generator = torch.Generator().manual_seed(seed)
        self._stride = self.first_id + num_items  # keys are user * stride + item
        self._keys, self._count = self._index(seen)

    def _index(self, seen: Pairs | FeatureTable | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Sorted unique ``user * stride + item`` keys of the positives, and positives per user."""
        if seen is None:
            return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
        if isinstance(seen, FeatureTable):
            for key in (self.user_key, self.item_key):
                if key not in seen.columns:
                    raise ValueError(f"the seen table has no '{key}' column ({list(seen.columns)})")
            seen = (seen.columns[self.user_key], seen.columns[self.item_key])
        if not isinstance(seen, tuple) or len(seen) != 2:
            raise ValueError("seen must be a (user_ids, item_ids) pair or a FeatureTable")
        users, items = _as_long(seen[0], "seen user_ids"), _as_long(seen[1], "seen item_ids")
        if users.shape != items.shape:
            raise ValueError(
                f"seen user_ids and item_ids differ in length ({len(users)} vs {len(items)})"
            )
        last = self.first_id + self.num_items - 1
        if items.numel() and (items.min() < self.first_id or items.max() > last):
            raise ValueError(
                f"seen item ids must lie in [{self.first_id}, {last}], "
                f"found {int(items.min())}..{int(items.max())}"
            )
        if users.numel() and users.min() < 0:
            raise ValueError(f"seen user ids must be >= 0, found {int(users.min())}")
        keys = torch.unique(users * self._stride + items)  # sorted
        count = torch.bincount(keys // self._stride)
        return keys, count

    def reset(self, seed: int | None = None) -> None:
        """Restart the generator (from ``seed``, default the construction seed)."""
        self.generator = torch.Generator().manual_seed(self.seed if seed is None else seed)

    # --8<-- [start:sample]
    def is_seen(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        """Boolean tensor: is ``item_ids[k]`` a training positive of ``user_ids[k]``? (same shape)"""
        if self._keys.numel() == 0:
            return torch.zeros(item_ids.shape, dtype=torch.bool)
        query = user_ids * self._stride + item_ids
        pos = torch.searchsorted(self._keys, query).clamp_max(self._keys.numel() - 1)
        return self._keys[pos] == query

    def sample(self, user_ids: torch.Tensor) -> torch.Tensor:
        """``num_negatives`` item ids per user, none a training positive of that user: ``(B, n)``.

        The result is on the device of ``user_ids``; the draw itself runs on the CPU generator.
        """
        users = _as_long(user_ids, "user_ids")
        if self._count.numel():
            known = users.clamp_max(self._count.numel() - 1)
            full = (users < self._count.numel()) & (self._count[known] >= self.num_items)
            if bool(full.any()):
                bad = torch.unique(users[full])[:5].tolist()
                raise ValueError(
                    f"users {bad} have seen all {self.num_items} items: no negative exists"
                )
        shape = (users.numel(), self.num_negatives)
        low, high = self.first_id, self.first_id + self.num_items
        items = torch.randint(low, high, shape, generator=self.generator)
        rows = users.unsqueeze(1).expand(shape)
        bad = self.is_seen(rows, items)
        for _ in range(self.max_rounds):  # rounds, not rows: each redraws every rejected entry
            if not bool(bad.any()):
                break
            items[bad] = torch.randint(low, high, (int(bad.sum()),), generator=self.generator)
            bad[bad.clone()] = self.is_seen(rows[bad], items[bad])
        else:
            raise ValueError(
                f"rejection sampling did not finish in {self.max_rounds} rounds; "
                "some users have seen nearly every item"
            )
        return items.to(torch.as_tensor(user_ids).device)

    def __call__(self, model: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The mean log loss over the batch's positives and their freshly drawn negatives."""
        for key in (self.user_key, self.item_key):
            if key not in batch:
                raise KeyError(f"the batch has no '{key}' (it has: {sorted(batch)})")
        users, items = batch[self.user_key], batch[self.item_key]
        negatives = self.sample(users)  # (B, n)
        b, n = negatives.shape
        pairs = {
            self.user_key: torch.cat([users, users.unsqueeze(1).expand(b, n).reshape(-1)]),
            self.item_key: torch.cat([items, negatives.reshape(-1)]),
        }
        logits = model(pairs)
        if logits.shape != (b * (1 + n),):
            raise ValueError(
                f"the model must return logits of shape ({b * (1 + n)},) for the "
                f"{b} positives and {b * n} negatives, got {tuple(logits.shape)}"
            )
        labels = torch.zeros_like(logits, dtype=torch.float32)
        labels[:b] = 1.0
        # NCF's Eq. (7), averaged over the B (1 + n) instances
        return F.binary_cross_entropy_with_logits(logits.float(), labels)

    # --8<-- [end:sample]

    def __repr__(self) -> str:
        return (
            f"SampledNegativeBCE(num_items={self.num_items}, num_negatives={self.num_negatives}, "
            f"positives={self._keys.numel()}, seed={self.seed})"
        )
