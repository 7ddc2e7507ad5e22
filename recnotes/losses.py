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

Retrievers score a user vector against item vectors, and three functional losses cover them
(their arguments are vectors, so every recall model calls them from its own ``loss(batch)``):

* [`in_batch_softmax`][recnotes.losses.in_batch_softmax]: the other rows' items are the
  negatives; with ``log_q``, the log-Q sampling-bias correction of Yi et al. (RecSys 2019).
* [`sampled_softmax`][recnotes.losses.sampled_softmax]: softmax over the positive and a set of
  sampled negatives (YouTube DNN, Covington et al., RecSys 2016).
* [`bpr`][recnotes.losses.bpr]: pairwise ``-log sigmoid(s+ - s-)`` (Rendle et al., UAI 2009).

Accidental hits, a negative that is in fact the row's own positive item, are masked out of the
softmax losses, so a popular item is never pushed down for being the right answer.

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

__all__ = ["SampledNegativeBCE", "in_batch_softmax", "sampled_softmax", "bpr", "log_q"]

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


# --------------------------------------------------------------------------------------------------
# Retrieval losses over vectors
# --------------------------------------------------------------------------------------------------


def _check_pair(user: torch.Tensor, item: torch.Tensor, name: str) -> None:
    if user.dim() != 2 or item.dim() != 2 or user.shape[1] != item.shape[1]:
        raise ValueError(
            f"user vectors (B, D) and {name} (M, D) must be 2-D with the same D, "
            f"got {tuple(user.shape)} and {tuple(item.shape)}"
        )


def log_q(item_counts: torch.Tensor) -> torch.Tensor:
    """Log of each item's sampling probability from its training frequency, for the correction.

    In-batch negatives are the batch's positives, so item ``j`` is a negative with probability
    ``q_j = count_j / sum(count)``; items never seen get the smallest positive count's probability
    (they never appear in a batch, so their value is never used in training).

    Example:
        >>> log_q(torch.tensor([0.0, 1.0, 3.0])).exp().tolist()
        [0.25, 0.25, 0.75]
    """
    counts = torch.as_tensor(item_counts, dtype=torch.float32)
    if counts.dim() != 1 or (counts < 0).any() or not torch.isfinite(counts).all():
        raise ValueError("item_counts must be a 1-D tensor of finite counts >= 0")
    positive = counts[counts > 0]
    if positive.numel() == 0:
        raise ValueError("item_counts has no positive count")
    counts = counts.clamp_min(positive.min())
    return torch.log(counts / positive.sum())


# --8<-- [start:in_batch]
def in_batch_softmax(
    user: torch.Tensor,
    item: torch.Tensor,
    item_ids: torch.Tensor,
    *,
    temperature: float = 1.0,
    item_log_q: torch.Tensor | None = None,
) -> torch.Tensor:
    """Softmax cross-entropy of each row's item against the other rows' items.

    ``logits[i, j] = <u_i, v_j> / temperature - log q_j`` (the second term only with
    ``item_log_q``: the log-Q correction, Yi et al. 2019, Eq. 3), the target of row ``i`` is
    column ``i``, and columns holding row ``i``'s own item id (``j != i``) are masked.

    Args:
        user: ``(B, D)`` user vectors.
        item: ``(B, D)`` the vectors of each row's positive item.
        item_ids: ``(B,)`` the positive item ids (to find duplicates).
        temperature: divides the dot products (> 0).
        item_log_q: ``(B,)`` log sampling probability of each row's item (from :func:`log_q`).

    Returns:
        The mean loss, a scalar.

    Example:
        >>> u = torch.tensor([[5.0, 0.0], [0.0, 5.0]])
        >>> good = in_batch_softmax(u, u, torch.tensor([1, 2]))
        >>> bad = in_batch_softmax(u, u.flip(0), torch.tensor([1, 2]))
        >>> bool(good < bad)
        True
    """
    _check_pair(user, item, "item vectors")
    if user.shape[0] != item.shape[0] or item_ids.shape != (user.shape[0],):
        raise ValueError("user, item and item_ids must have the same number of rows B")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = (user @ item.T).float() / temperature  # (B, B)
    if item_log_q is not None:
        logits = logits - item_log_q.float()[None, :]  # log-Q correction, per column
    same = item_ids[:, None] == item_ids[None, :]
    same.fill_diagonal_(False)
    logits = logits.masked_fill(same, float("-inf"))  # accidental hits
    target = torch.arange(user.shape[0], device=user.device)
    return F.cross_entropy(logits, target)


# --8<-- [end:in_batch]


def sampled_softmax(
    user: torch.Tensor,
    positive: torch.Tensor,
    negatives: torch.Tensor,
    *,
    positive_ids: torch.Tensor,
    negative_ids: torch.Tensor,
    temperature: float = 1.0,
) -> torch.Tensor:
    """Softmax cross-entropy of each row's positive against ``M`` sampled negatives.

    The negatives are shared by the batch (one ``(M, D)`` matrix, as in YouTube DNN's sampled
    softmax), and a negative equal to the row's positive is masked. With uniformly drawn
    negatives no log-Q term is needed (it is the same constant for every item).

    Args:
        user: ``(B, D)`` user vectors.
        positive: ``(B, D)`` positive item vectors.
        negatives: ``(M, D)`` negative item vectors.
        positive_ids: ``(B,)`` positive item ids.
        negative_ids: ``(M,)`` negative item ids.
        temperature: divides the dot products (> 0).

    Example:
        >>> u = torch.tensor([[1.0, 0.0]])
        >>> loss = sampled_softmax(u, u, torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        ...                        positive_ids=torch.tensor([3]), negative_ids=torch.tensor([3, 4]))
        >>> round(float(loss), 4) == round(float(torch.log1p(torch.exp(torch.tensor(-1.0)))), 4)
        True
    """
    _check_pair(user, positive, "positive vectors")
    _check_pair(user, negatives, "negative vectors")
    if positive.shape[0] != user.shape[0] or positive_ids.shape != (user.shape[0],):
        raise ValueError("user, positive and positive_ids must have the same number of rows B")
    if negative_ids.shape != (negatives.shape[0],):
        raise ValueError("negative_ids must have one id per negative vector")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    pos = (user * positive).sum(-1, keepdim=True).float() / temperature  # (B, 1)
    neg = (user @ negatives.T).float() / temperature  # (B, M)
    neg = neg.masked_fill(negative_ids[None, :] == positive_ids[:, None], float("-inf"))
    logits = torch.cat([pos, neg], dim=1)
    return F.cross_entropy(logits, torch.zeros(user.shape[0], dtype=torch.long, device=user.device))


def bpr(positive_scores: torch.Tensor, negative_scores: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: mean of ``-log sigmoid(s_pos - s_neg)``.

    Args:
        positive_scores: ``(B,)`` or ``(B, 1)``.
        negative_scores: ``(B,)`` or ``(B, n)`` (each row's negatives against its positive).

    Example:
        >>> round(float(bpr(torch.tensor([0.0]), torch.tensor([0.0]))), 4)  # log 2
        0.6931
    """
    pos = positive_scores.float()
    neg = negative_scores.float()
    if pos.dim() == 1:
        pos = pos[:, None]
    if neg.dim() == 1:
        neg = neg[:, None]
    if pos.shape[0] != neg.shape[0] or pos.shape[1] != 1:
        raise ValueError(
            f"positive_scores (B,) and negative_scores (B, n) must share B, got "
            f"{tuple(positive_scores.shape)} and {tuple(negative_scores.shape)}"
        )
    return -F.logsigmoid(pos - neg).mean()
