"""Evaluation protocols: one path for every retriever, one for every CTR model.

A number means something only under a stated protocol, so each protocol has a name
([`RETRIEVAL_PROTOCOLS`][recnotes.evaluate.RETRIEVAL_PROTOCOLS], [`CTR`][recnotes.evaluate.CTR])
and the functions below implement exactly one each. They differ in the candidates that a user's
target is ranked against:

* ``full``: every item. Items in the user's ``seen`` set (the training history) are removed from
  the candidates; the target itself is never removed, even if it is in ``seen``. Pass
  ``seen=None`` to rank against every item unfiltered. ``seen`` has no default, so the choice is
  always written at the call site
  ([`full_ranking`][recnotes.evaluate.full_ranking],
  [`full_ranking_fn`][recnotes.evaluate.full_ranking_fn]).
* ``sampled``: the target plus ``n`` negatives drawn uniformly without replacement from the items
  that are neither the target nor seen, with a fixed seed
  ([`sample_negatives`][recnotes.evaluate.sample_negatives], then
  [`sampled_ranking`][recnotes.evaluate.sampled_ranking]). SASRec's "100 negatives" is ``n=100``.
* ``fixed``: the target plus a given ``(U, n)`` array of negatives, e.g. NCF's
  ``ml-1m.test.negative`` with 99 per user
  ([`sampled_ranking`][recnotes.evaluate.sampled_ranking]).
* ``ctr``: pointwise AUC, LogLoss and, with a group column, GAUC over labelled impressions
  ([`evaluate_ctr`][recnotes.evaluate.evaluate_ctr],
  [`evaluate_ranker`][recnotes.evaluate.evaluate_ranker]).

Numbers from ``sampled``/``fixed`` and ``full`` are not comparable (SASRec on ML-1M: HR@10 about
0.82 against 100 negatives, about 0.3 against all items).

Every ranking protocol reduces to the same step: the ``(higher, ties)`` counts of each target
([`rank_targets`][recnotes.evaluate.rank_targets]) turned into metrics by
[`ranking_metrics`][recnotes.evaluate.ranking_metrics] under a stated tie rule (default
``"average"``, see [`recnotes.metrics`][recnotes.metrics]). Targets are column indices into the
item matrix (``item_vectors``, or the columns a ``score_fn`` returns). **A user whose target is
negative (no test item) is skipped, and the result counts it** under ``"skipped_users"``;
``"users"`` is the number of users averaged over.

Full ranking runs in chunks of ``batch_size`` users, so memory is ``batch_size x N`` scores,
whatever the number of users.

Example:
    >>> import torch
    >>> user_vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    >>> item_vectors = torch.tensor([[3.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    >>> seen = [torch.tensor([0]), torch.tensor([])]  # user 0 has seen item 0
    >>> result = full_ranking(user_vectors, item_vectors, torch.tensor([1, 3]), seen, ks=(1, 2))
    >>> result["hr@1"], result["hr@2"], result["users"]  # user 1's target ties with item 2
    (0.75, 1.0, 2)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from recnotes import metrics as M

__all__ = [
    "FULL",
    "SAMPLED",
    "FIXED",
    "CTR",
    "RETRIEVAL_PROTOCOLS",
    "DEFAULT_KS",
    "RANKING_METRICS",
    "build_seen",
    "as_csr",
    "rank_targets",
    "ranking_metrics",
    "dot_scorer",
    "full_ranking",
    "full_ranking_fn",
    "sample_negatives",
    "sampled_ranking",
    "scores_from_topk",
    "evaluate_ctr",
    "evaluate_retriever",
    "evaluate_ranker",
]

FULL = "full"
"""Full ranking over all items (seen items filtered unless ``seen=None``)."""
SAMPLED = "sampled"
"""The target against ``n`` uniformly sampled unseen negatives (seeded)."""
FIXED = "fixed"
"""The target against a given array of negatives (e.g. NCF's 99 per user)."""
CTR = "ctr"
"""Pointwise CTR evaluation: AUC, LogLoss, GAUC."""
RETRIEVAL_PROTOCOLS: tuple[str, ...] = (FULL, SAMPLED, FIXED)
"""The protocols a retriever can be evaluated under."""
DEFAULT_KS: tuple[int, ...] = (5, 10, 20, 50)
"""Cut-offs reported when none are given."""
RANKING_METRICS: tuple[str, ...] = ("hr", "recall", "ndcg", "mrr", "precision")
"""Metric names that [`ranking_metrics`][recnotes.evaluate.ranking_metrics] knows. With one target
per user ``recall@k == hr@k`` (both are reported because papers use both names) and
``precision@k == hr@k / k``. The default set is ``("hr", "recall", "ndcg", "mrr")``."""
_DEFAULT_METRICS: tuple[str, ...] = ("hr", "recall", "ndcg", "mrr")

Seen = tuple[torch.Tensor, torch.Tensor] | Sequence[torch.Tensor]
"""Items seen by each user: a CSR pair ``(indptr (U+1,), indices (nnz,))``, a list of ``U`` 1-D
tensors, or an object with ``indptr`` and ``indices`` attributes such as
``recnotes.data.sampling.SeenItems`` (built with ``first_id=0`` so that its ids are item columns;
users beyond its table have seen nothing)."""
FullScoreFn = Callable[[torch.Tensor], torch.Tensor]
"""``score_fn(users (C,)) -> (C, N)`` for full ranking."""
CandidateScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""``score_fn(users (C,), candidates (C, M)) -> (C, M)`` for sampled ranking."""

_TARGET_BUDGET = 1 << 24  # score-matrix entries per chunk when sampling negatives


# --------------------------------------------------------------------------------------------------
# Seen items
# --------------------------------------------------------------------------------------------------


def build_seen(
    user_ids: torch.Tensor, item_ids: torch.Tensor, num_users: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """The CSR ``(indptr, indices)`` of the items each user interacted with.

    Args:
        user_ids: ``(n,)`` user index of each interaction, in ``[0, num_users)``.
        item_ids: ``(n,)`` item column index of each interaction.
        num_users: number of users (rows of the CSR).

    Returns:
        ``indptr`` ``(num_users + 1,)`` and ``indices`` ``(n,)``: user ``u`` has seen
        ``indices[indptr[u]:indptr[u + 1]]``.

    Example:
        >>> indptr, indices = build_seen(torch.tensor([1, 0, 1]), torch.tensor([5, 2, 3]), 3)
        >>> indptr.tolist(), indices.tolist()
        ([0, 1, 3, 3], [2, 5, 3])
    """
    users = torch.as_tensor(user_ids)
    items = torch.as_tensor(item_ids)
    if users.dim() != 1 or items.shape != users.shape:
        raise ValueError(
            f"user_ids {tuple(users.shape)} and item_ids {tuple(items.shape)} must be 1-D and equal"
        )
    if users.dtype.is_floating_point or items.dtype.is_floating_point:
        raise ValueError("user_ids and item_ids must hold integer indices")
    if isinstance(num_users, bool) or not isinstance(num_users, int) or num_users < 1:
        raise ValueError(f"num_users must be an integer >= 1, got {num_users!r}")
    if users.numel() and (users.min() < 0 or users.max() >= num_users):
        raise ValueError(f"user_ids must be in [0, {num_users})")
    if items.numel() and items.min() < 0:
        raise ValueError("item_ids must be >= 0")
    order = torch.argsort(users, stable=True)
    indptr = torch.zeros(num_users + 1, dtype=torch.long)
    indptr[1:] = torch.cumsum(torch.bincount(users.long(), minlength=num_users), 0)
    return indptr, items.long()[order]


def as_csr(seen: Seen, num_users: int, num_items: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate ``seen`` and return it as one CSR pair ``(indptr, indices)``.

    Every function that takes ``seen`` (full ranking, sampled negatives, the retrieval index's
    ``exclude``) goes through this one check, so the three accepted forms mean the same everywhere.

    Args:
        seen: the items of each user (see [`Seen`][recnotes.evaluate.Seen]): a CSR pair
            ``(indptr, indices)``, a list of ``num_users`` 1-D index tensors, or an object with
            ``indptr`` and ``indices`` attributes (``SeenItems``; users beyond its table have
            seen nothing).
        num_users: rows ``U`` the CSR must have.
        num_items: item columns ``N``; every index must be in ``[0, N)``.

    Returns:
        ``indptr`` ``(U + 1,)`` and ``indices`` ``(nnz,)``, both int64: user ``u`` has seen
        ``indices[indptr[u]:indptr[u + 1]]``.

    Raises:
        ValueError: a malformed CSR (wrong length, decreasing offsets), float or out-of-range
            indices, a list with the wrong number of rows, or an unsupported type.

    Example:
        >>> indptr, indices = as_csr([torch.tensor([2, 0]), torch.tensor([], dtype=torch.long)], 2, 3)
        >>> indptr.tolist(), indices.tolist()
        ([0, 2, 2], [2, 0])
    """
    if hasattr(seen, "indptr") and hasattr(seen, "indices"):
        # A CSR object such as recnotes.data.sampling.SeenItems. Its ids must be item columns:
        # a table built with first_id=1 covers one item fewer than the scores and is rejected here.
        covered = getattr(seen, "num_items", num_items)
        if covered != num_items:
            raise ValueError(
                f"seen covers {covered} items but there are {num_items} item columns; build it "
                "over the same item index space (SeenItems: first_id=0, num_items=N)"
            )
        indptr = torch.as_tensor(seen.indptr)
        indices = torch.as_tensor(seen.indices)
        if indptr.dim() == 1 and 0 < indptr.shape[0] < num_users + 1:
            # users beyond the table have seen nothing
            indptr = torch.cat([indptr, indptr[-1:].expand(num_users + 1 - indptr.shape[0])])
    elif isinstance(seen, tuple):
        if len(seen) != 2:
            raise ValueError("seen as a tuple must be the CSR pair (indptr, indices)")
        indptr, indices = (torch.as_tensor(x) for x in seen)
    elif isinstance(seen, Sequence):
        if len(seen) != num_users:
            raise ValueError(f"seen has {len(seen)} rows but there are {num_users} users")
        rows = [torch.as_tensor(x).reshape(-1) for x in seen]
        if any(r.numel() and (r.dtype.is_floating_point or r.dtype == torch.bool) for r in rows):
            raise ValueError("seen must hold integer item indices")
        indptr = torch.zeros(num_users + 1, dtype=torch.long)
        indptr[1:] = torch.cumsum(torch.tensor([r.numel() for r in rows], dtype=torch.long), 0)
        indices = torch.cat(rows).long() if rows else torch.zeros(0, dtype=torch.long)
    else:
        raise ValueError(
            "seen must be a (indptr, indices) tuple, a list of tensors or None, "
            f"got {type(seen).__name__}"
        )
    if indptr.dim() != 1 or indptr.shape[0] != num_users + 1:
        raise ValueError(
            f"seen indptr must have shape ({num_users + 1},), got {tuple(indptr.shape)}"
        )
    if indices.dim() != 1:
        raise ValueError(f"seen indices must be 1-D, got shape {tuple(indices.shape)}")
    if indptr.dtype.is_floating_point or (indices.numel() and indices.dtype.is_floating_point):
        raise ValueError("seen must hold integer indices")
    indptr, indices = indptr.long(), indices.long()
    if indptr[0] != 0 or indptr[-1] != indices.shape[0] or (indptr[1:] < indptr[:-1]).any():
        raise ValueError("seen indptr must start at 0, never decrease and end at len(indices)")
    if indices.numel() and (indices.min() < 0 or indices.max() >= num_items):
        raise ValueError(f"seen item indices must be in [0, {num_items})")
    return indptr, indices


def _seen_mask(
    csr: tuple[torch.Tensor, torch.Tensor] | None,
    users: torch.Tensor,
    num_items: int,
    exclude_items: torch.Tensor | None,
) -> torch.Tensor | None:
    """``(C, N)`` bool mask of the seen items of ``users`` plus the globally excluded items."""
    if csr is None and exclude_items is None:
        return None
    mask = torch.zeros(users.shape[0], num_items, dtype=torch.bool)
    if csr is not None:
        indptr, indices = csr
        starts = indptr[users]
        counts = indptr[users + 1] - starts
        total = int(counts.sum())
        if total:
            row = torch.repeat_interleave(torch.arange(users.shape[0]), counts, output_size=total)
            first = torch.repeat_interleave(
                starts - (torch.cumsum(counts, 0) - counts), counts, output_size=total
            )
            mask[row, indices[first + torch.arange(total)]] = True
    if exclude_items is not None:
        mask[:, exclude_items] = True
    return mask


# --------------------------------------------------------------------------------------------------
# From scores to (higher, ties) to metrics
# --------------------------------------------------------------------------------------------------


def rank_targets(
    scores: torch.Tensor,
    targets: torch.Tensor,
    exclude: torch.Tensor | Seen | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(higher, ties)`` of each row's target, with excluded candidates removed.

    Args:
        scores: ``(U, N)`` scores.
        targets: ``(U,)`` target column per row, in ``[0, N)``.
        exclude: candidates to remove per row: a ``(U, N)`` bool mask, a CSR ``(indptr, indices)``
            tuple or a list of ``U`` index tensors (e.g. the seen items), or ``None``. The target
            is never removed.

    Returns:
        Two int64 tensors ``(U,)``: candidates strictly higher than the target, and candidates
        tied with it (see [`target_rank_counts`][recnotes.metrics.target_rank_counts]).

    Example:
        >>> s = torch.tensor([[5.0, 4.0, 3.0, 4.0]])
        >>> [c.tolist() for c in rank_targets(s, torch.tensor([1]), [torch.tensor([0, 1])])]
        [[0], [1]]
    """
    if exclude is None or (isinstance(exclude, torch.Tensor) and exclude.dtype == torch.bool):
        return M.target_rank_counts(scores, targets, exclude)
    s = torch.as_tensor(scores)
    if s.dim() != 2:
        raise ValueError(f"scores must be 2-D (users, candidates), got shape {tuple(s.shape)}")
    csr = as_csr(exclude, s.shape[0], s.shape[1])
    mask = _seen_mask(csr, torch.arange(s.shape[0]), s.shape[1], None)
    return M.target_rank_counts(s, targets, mask)


def _check_ks(ks: Iterable[int]) -> tuple[int, ...]:
    ks = tuple(ks)
    if not ks:
        raise ValueError("ks must name at least one cut-off")
    for k in ks:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"ks must be integers >= 1, got {k!r}")
    return tuple(sorted(set(ks)))


def _check_metrics(metrics: Iterable[str]) -> tuple[str, ...]:
    metrics = tuple(metrics)
    if not metrics:
        raise ValueError("metrics must name at least one metric")
    unknown = [m for m in metrics if m not in RANKING_METRICS]
    if unknown:
        raise ValueError(f"metrics {unknown} are unknown; choose from {RANKING_METRICS}")
    return metrics


def ranking_metrics(
    higher: torch.Tensor,
    ties: torch.Tensor,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    metrics: Iterable[str] = _DEFAULT_METRICS,
    tie_rule: M.TieRule = "average",
    skipped_users: int = 0,
) -> dict[str, float]:
    """Every requested metric at every cut-off, from the rank counts of single targets.

    Args:
        higher: ``(U,)`` candidates scoring strictly higher than each target.
        ties: ``(U,)`` candidates tied with each target.
        ks: cut-offs.
        metrics: names from [`RANKING_METRICS`][recnotes.evaluate.RANKING_METRICS]
            (``"mrr"`` has no cut-off).
        tie_rule: one of [`TIE_RULES`][recnotes.metrics.TIE_RULES].
        skipped_users: reported as ``"skipped_users"``.

    Returns:
        ``{"hr@10": ..., "ndcg@10": ..., "mrr": ..., "users": U, "skipped_users": ...}``.

    Example:
        >>> higher, ties = torch.tensor([0, 3]), torch.tensor([0, 0])
        >>> r = ranking_metrics(higher, ties, ks=(1,), metrics=("hr", "mrr"))
        >>> r["hr@1"], r["mrr"], r["users"]
        (0.5, 0.625, 2)
    """
    ks, metrics = _check_ks(ks), _check_metrics(metrics)
    out: dict[str, float] = {}
    for name in metrics:
        if name == "mrr":
            out["mrr"] = M.mrr(higher, ties, tie_rule=tie_rule)
            continue
        for k in ks:
            if name == "ndcg":
                out[f"ndcg@{k}"] = M.ndcg_at_k(higher, ties, k, tie_rule=tie_rule)
            else:  # hr, recall and precision all come from the hit indicator of a single target
                hr = M.hit_rate_at_k(higher, ties, k, tie_rule=tie_rule)
                out[f"{name}@{k}"] = hr / k if name == "precision" else hr
    out["users"] = int(torch.as_tensor(higher).numel())
    out["skipped_users"] = int(skipped_users)
    return out


# --------------------------------------------------------------------------------------------------
# Full ranking
# --------------------------------------------------------------------------------------------------


def _check_targets(targets: torch.Tensor) -> torch.Tensor:
    t = torch.as_tensor(targets)
    if t.dim() != 1 or t.numel() == 0:
        raise ValueError(f"targets must be a non-empty 1-D tensor, got shape {tuple(t.shape)}")
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise ValueError(f"targets must hold integer item indices, got dtype {t.dtype}")
    return t.long()


def _describe(value: object) -> str:
    """The shape of a tensor, or the type of anything else, for an error message."""
    return str(tuple(value.shape)) if isinstance(value, torch.Tensor) else type(value).__name__


def _check_batch_size(batch_size: int) -> int:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be an integer >= 1, got {batch_size!r}")
    return batch_size


def _vector_scores(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Dot products; ``users`` ``(C, D)`` or ``(C, K, D)`` (max over the K interests);
    ``items`` ``(N, D)`` shared by all rows or ``(C, M, D)`` per row."""
    if items.dim() == 2:
        if users.dim() == 2:
            return users @ items.T  # (C, N)
        return (users @ items.T).amax(1)  # (C, K, N) -> (C, N)
    if users.dim() == 2:
        return torch.einsum("cd,cmd->cm", users, items)
    return torch.einsum("ckd,cmd->ckm", users, items).amax(1)


def _check_vectors(user_vectors: torch.Tensor, item_vectors: torch.Tensor) -> None:
    for name, x, dims in (
        ("user_vectors", user_vectors, (2, 3)),
        ("item_vectors", item_vectors, (2,)),
    ):
        if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
            raise ValueError(f"{name} must be a floating-point tensor")
        if x.dim() not in dims or x.numel() == 0:
            raise ValueError(
                f"{name} must be non-empty with {' or '.join(map(str, dims))} dims, "
                f"got {tuple(x.shape)}"
            )
    if user_vectors.shape[-1] != item_vectors.shape[-1]:
        raise ValueError(
            f"user_vectors dim {user_vectors.shape[-1]} != "
            f"item_vectors dim {item_vectors.shape[-1]}"
        )


def dot_scorer(
    user_vectors: torch.Tensor, item_vectors: torch.Tensor
) -> Callable[..., torch.Tensor]:
    """A score function from embeddings, for both full and sampled ranking.

    ``scorer(users)`` gives ``(C, N)`` scores against every item (what
    [`full_ranking_fn`][recnotes.evaluate.full_ranking_fn] calls) and
    ``scorer(users, candidates)`` gives ``(C, M)`` scores of the listed candidates (what
    [`sampled_ranking`][recnotes.evaluate.sampled_ranking] calls).

    The score is the dot product; for multi-interest users ``(U, K, D)`` it is the maximum over the
    K interests (the item is retrieved by its closest interest).

    Example:
        >>> scorer = dot_scorer(torch.tensor([[1.0, 2.0]]), torch.eye(2))
        >>> scorer(torch.tensor([0])).tolist()
        [[1.0, 2.0]]
        >>> scorer(torch.tensor([0]), torch.tensor([[1]])).tolist()
        [[2.0]]
    """
    _check_vectors(user_vectors, item_vectors)

    def scorer(users: torch.Tensor, candidates: torch.Tensor | None = None) -> torch.Tensor:
        if candidates is None:
            return _vector_scores(user_vectors[users], item_vectors)
        if candidates.shape[1] * item_vectors.shape[1] >= item_vectors.shape[0]:
            # Cheaper to score every item and pick the candidates than to gather (C, M, D) vectors.
            return _vector_scores(user_vectors[users], item_vectors).gather(1, candidates)
        return _vector_scores(user_vectors[users], item_vectors[candidates])

    return scorer


def _check_exclude_items(
    exclude_items: torch.Tensor | None, num_items: int, targets: torch.Tensor
) -> torch.Tensor | None:
    if exclude_items is None:
        return None
    ex = torch.as_tensor(exclude_items).reshape(-1).long()
    if ex.numel() and (ex.min() < 0 or ex.max() >= num_items):
        raise ValueError(f"exclude_items must be in [0, {num_items})")
    if torch.isin(targets[targets >= 0], ex).any():
        raise ValueError("a target is in exclude_items; a target can never be excluded")
    return ex


def full_ranking_fn(
    score_fn: FullScoreFn,
    targets: torch.Tensor,
    seen: Seen | None,
    *,
    num_items: int | None = None,
    exclude_items: torch.Tensor | None = None,
    ks: Iterable[int] = DEFAULT_KS,
    metrics: Iterable[str] = _DEFAULT_METRICS,
    tie_rule: M.TieRule = "average",
    batch_size: int = 1024,
) -> dict[str, float]:
    """Full ranking with any scorer: ``score_fn(users (C,)) -> (C, N)`` scores of every item.

    The protocol ``full``: each user's target is ranked against all ``N`` items, minus the items in
    ``seen[u]`` (the target is kept even if seen) and minus ``exclude_items`` (e.g. a padding id).

    Args:
        score_fn: called with chunks of user row indices (into ``targets``); returns ``(C, N)``.
        targets: ``(U,)`` target item per user; ``-1`` (any negative) means no target: skipped.
        seen: items to filter per user (see [`Seen`][recnotes.evaluate.Seen]), or ``None`` for
            no filtering.
        num_items: ``N``, checked against the scores (default: taken from the first chunk).
        exclude_items: item indices removed for every user; must not contain a target.
        ks: cut-offs.
        metrics: names from [`RANKING_METRICS`][recnotes.evaluate.RANKING_METRICS].
        tie_rule: one of [`TIE_RULES`][recnotes.metrics.TIE_RULES].
        batch_size: users per chunk (memory is ``batch_size x N`` scores).

    Returns:
        Metric dict as [`ranking_metrics`][recnotes.evaluate.ranking_metrics], with ``"users"``
        and ``"skipped_users"``.
    """
    if not callable(score_fn):
        raise ValueError("score_fn must be callable")
    t = _check_targets(targets)
    batch_size = _check_batch_size(batch_size)
    ks, metrics = _check_ks(ks), _check_metrics(metrics)
    users = torch.nonzero(t >= 0).flatten()
    if users.numel() == 0:
        raise ValueError("no user has a target (all targets are negative)")
    csr = None
    counts: list[tuple[torch.Tensor, torch.Tensor]] = []
    ex: torch.Tensor | None = None
    for chunk in users.split(batch_size):
        scores = score_fn(chunk)
        if (
            not isinstance(scores, torch.Tensor)
            or scores.dim() != 2
            or scores.shape[0] != chunk.numel()
        ):
            raise ValueError(
                f"score_fn must return a ({chunk.numel()}, N) tensor, got {_describe(scores)}"
            )
        if num_items is None:
            num_items = scores.shape[1]
        if scores.shape[1] != num_items:
            raise ValueError(
                f"score_fn returned {scores.shape[1]} columns, expected num_items={num_items}"
            )
        if not counts:  # first chunk: N is known, check what depends on it once
            if t.max() >= num_items:
                raise ValueError(f"targets must be item indices in [0, {num_items})")
            csr = None if seen is None else as_csr(seen, t.shape[0], num_items)
            ex = _check_exclude_items(exclude_items, num_items, t)
        mask = _seen_mask(csr, chunk, num_items, ex)
        counts.append(M.target_rank_counts(scores.detach(), t[chunk], mask))
    higher = torch.cat([h for h, _ in counts])
    ties = torch.cat([c for _, c in counts])
    return ranking_metrics(
        higher,
        ties,
        ks=ks,
        metrics=metrics,
        tie_rule=tie_rule,
        skipped_users=t.shape[0] - users.numel(),
    )


def full_ranking(
    user_vectors: torch.Tensor,
    item_vectors: torch.Tensor,
    targets: torch.Tensor,
    seen: Seen | None,
    *,
    exclude_items: torch.Tensor | None = None,
    ks: Iterable[int] = DEFAULT_KS,
    metrics: Iterable[str] = _DEFAULT_METRICS,
    tie_rule: M.TieRule = "average",
    batch_size: int = 1024,
) -> dict[str, float]:
    """Full ranking of embedding retrievers: score = user vector · item vector.

    Args:
        user_vectors: ``(U, D)``, or ``(U, K, D)`` for multi-interest models (score = max over
            the K interests).
        item_vectors: ``(N, D)``; row ``i`` is item index ``i``.
        targets: ``(U,)`` target item per user; negative: no target, skipped and counted.
        seen: items to filter per user (see [`Seen`][recnotes.evaluate.Seen]), or
            ``None`` for an unfiltered ranking. Required, so the choice is always explicit.
        exclude_items: item indices removed for every user (e.g. the padding id 0).
        ks: cut-offs.
        metrics: names from [`RANKING_METRICS`][recnotes.evaluate.RANKING_METRICS].
        tie_rule: one of [`TIE_RULES`][recnotes.metrics.TIE_RULES].
        batch_size: users per chunk; memory is about ``batch_size x N`` scores (times ``K``).

    Returns:
        ``{"hr@5": ..., "recall@5": ..., "ndcg@5": ..., ..., "mrr": ..., "users": ...,
        "skipped_users": ...}``.
    """
    _check_vectors(user_vectors, item_vectors)
    if user_vectors.shape[0] != torch.as_tensor(targets).shape[0]:
        raise ValueError(
            f"user_vectors has {user_vectors.shape[0]} users but targets has "
            f"{torch.as_tensor(targets).shape[0]}"
        )
    return full_ranking_fn(
        dot_scorer(user_vectors, item_vectors),
        targets,
        seen,
        num_items=item_vectors.shape[0],
        exclude_items=exclude_items,
        ks=ks,
        metrics=metrics,
        tie_rule=tie_rule,
        batch_size=batch_size,
    )


# --------------------------------------------------------------------------------------------------
# Sampled and fixed negatives
# --------------------------------------------------------------------------------------------------


def sample_negatives(
    targets: torch.Tensor,
    num_items: int,
    num_negatives: int,
    seen: Seen | None,
    *,
    exclude_items: torch.Tensor | None = None,
    seed: int = 0,
) -> torch.Tensor:
    """Draw each user's negatives uniformly, without replacement, from the items that are not the
    target, not seen and not excluded (the ``sampled`` protocol).

    The draw depends only on ``seed`` and the inputs: each user's negatives are the
    ``num_negatives`` allowed items with the largest uniform random keys from a seeded generator.

    Args:
        targets: ``(U,)`` target per user (negative: no target; the row is still filled).
        num_items: catalogue size ``N``.
        num_negatives: negatives per user ``n``.
        seen: items never drawn for a user (see [`Seen`][recnotes.evaluate.Seen]), or ``None``.
        exclude_items: items never drawn for anyone (e.g. the padding id 0).
        seed: the generator's seed.

    Returns:
        ``(U, n)`` int64 item indices.

    Example:
        >>> seen = [torch.tensor([2]), torch.tensor([])]
        >>> neg = sample_negatives(torch.tensor([0, 1]), 5, 3, seen, seed=0)
        >>> neg.shape, bool((neg[0] != 0).all() and (neg[0] != 2).all()), bool((neg[1] != 1).all())
        (torch.Size([2, 3]), True, True)
    """
    t = _check_targets(targets)
    if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 2:
        raise ValueError(f"num_items must be an integer >= 2, got {num_items!r}")
    if isinstance(num_negatives, bool) or not isinstance(num_negatives, int) or num_negatives < 1:
        raise ValueError(f"num_negatives must be an integer >= 1, got {num_negatives!r}")
    if t.max() >= num_items:
        raise ValueError(f"targets must be item indices in [0, {num_items})")
    csr = None if seen is None else as_csr(seen, t.shape[0], num_items)
    ex = _check_exclude_items(exclude_items, num_items, t)
    generator = torch.Generator().manual_seed(seed)
    rows_per_chunk = max(1, _TARGET_BUDGET // num_items)
    out = []
    for chunk in torch.arange(t.shape[0]).split(rows_per_chunk):
        keys = torch.rand(chunk.numel(), num_items, generator=generator)
        forbid = _seen_mask(csr, chunk, num_items, ex)
        if forbid is None:
            forbid = torch.zeros_like(keys, dtype=torch.bool)
        has_target = t[chunk] >= 0
        forbid[torch.nonzero(has_target).flatten(), t[chunk][has_target]] = True
        allowed = num_items - forbid.sum(1)
        if (allowed < num_negatives).any():
            user = int(chunk[torch.nonzero(allowed < num_negatives)[0]])
            raise ValueError(
                f"user {user} has only {int(allowed.min())} items left to sample from, "
                f"fewer than num_negatives={num_negatives}"
            )
        keys[forbid] = -1.0  # below every uniform key: never among the top n
        out.append(torch.topk(keys, num_negatives, dim=1).indices)
    return torch.cat(out)


def sampled_ranking(
    score_fn: CandidateScoreFn,
    targets: torch.Tensor,
    negatives: torch.Tensor,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    metrics: Iterable[str] = _DEFAULT_METRICS,
    tie_rule: M.TieRule = "average",
    batch_size: int = 4096,
    target_in_negatives: str = "raise",
) -> dict[str, float]:
    """Rank each target against its own negatives (protocols ``sampled`` and ``fixed``).

    Candidates of user ``u`` are ``[targets[u], *negatives[u]]``: column 0 is the target, so the
    target is ranked among ``1 + n`` items.

    Args:
        score_fn: ``score_fn(users (C,), candidates (C, 1 + n)) -> (C, 1 + n)`` scores.
        targets: ``(U,)`` target per user; negative: skipped and counted.
        negatives: ``(U, n)`` negative items per user (drawn by
            [`sample_negatives`][recnotes.evaluate.sample_negatives] or read from a fixed file such
            as NCF's 99 negatives); a row must not contain its target.
        ks: cut-offs.
        metrics: names from [`RANKING_METRICS`][recnotes.evaluate.RANKING_METRICS].
        tie_rule: one of [`TIE_RULES`][recnotes.metrics.TIE_RULES].
        batch_size: users per call of ``score_fn``.
        target_in_negatives: what to do when a row of a fixed negatives file contains its own
            target. ``"raise"`` (default) refuses; ``"ignore"`` leaves those copies out of the
            comparison, so the target is ranked against the other negatives only. The published
            NCF file has this for 156 of 6,040 ML-1M users, and the NCF authors' evaluation (which
            keys scores by item) behaves exactly like ``"ignore"``.

    Returns:
        Metric dict as [`ranking_metrics`][recnotes.evaluate.ranking_metrics].

    Example:
        >>> scorer = dot_scorer(torch.ones(2, 1), torch.tensor([[0.0], [1.0], [2.0], [3.0]]))
        >>> negatives = torch.tensor([[0, 1], [1, 3]])
        >>> r = sampled_ranking(scorer, torch.tensor([2, 0]), negatives, ks=(1,))
        >>> r["hr@1"], r["mrr"]
        (0.5, 0.6666666666666666)
    """
    if not callable(score_fn):
        raise ValueError("score_fn must be callable")
    t = _check_targets(targets)
    neg = torch.as_tensor(negatives)
    if neg.dim() != 2 or neg.shape[0] != t.shape[0] or neg.shape[1] < 1:
        raise ValueError(
            f"negatives must have shape ({t.shape[0]}, n) with n >= 1, got {tuple(neg.shape)}"
        )
    if neg.dtype.is_floating_point or neg.dtype == torch.bool:
        raise ValueError(f"negatives must hold integer item indices, got dtype {neg.dtype}")
    neg = neg.long()
    batch_size = _check_batch_size(batch_size)
    ks, metrics = _check_ks(ks), _check_metrics(metrics)
    users = torch.nonzero(t >= 0).flatten()
    if users.numel() == 0:
        raise ValueError("no user has a target (all targets are negative)")
    if (neg[users] < 0).any():
        raise ValueError("negatives must be item indices >= 0")
    if target_in_negatives not in ("raise", "ignore"):
        raise ValueError(
            f"target_in_negatives must be 'raise' or 'ignore', got {target_in_negatives!r}"
        )
    clash = (neg[users] == t[users].unsqueeze(1)).any(1)
    if clash.any() and target_in_negatives == "raise":
        raise ValueError(
            f"negatives of user {int(users[clash][0])} contain its target "
            f"({int(clash.sum())} users in all); pass target_in_negatives='ignore' to leave those "
            "copies out of the comparison"
        )
    higher, ties = [], []
    for chunk in users.split(batch_size):
        candidates = torch.cat([t[chunk].unsqueeze(1), neg[chunk]], 1)  # column 0: the target
        copies = candidates == candidates[:, :1]
        copies[:, 0] = False  # a copy of the target among the negatives must not tie with it
        scores = score_fn(chunk, candidates)
        if not isinstance(scores, torch.Tensor) or scores.shape != candidates.shape:
            raise ValueError(
                f"score_fn must return scores of shape {tuple(candidates.shape)}, got "
                f"{_describe(scores)}"
            )
        h, c = M.target_rank_counts(
            scores.detach(),
            torch.zeros(chunk.numel(), dtype=torch.long),
            exclude=copies if copies.any() else None,
        )
        higher.append(h)
        ties.append(c)
    return ranking_metrics(
        torch.cat(higher),
        torch.cat(ties),
        ks=ks,
        metrics=metrics,
        tie_rule=tie_rule,
        skipped_users=t.shape[0] - users.numel(),
    )


def scores_from_topk(item_ids: torch.Tensor, num_items: int) -> torch.Tensor:
    """Scores that reproduce top-k lists, so list-producing retrievers (e.g. generative retrieval
    with beam search) go through the same ranking path.

    Position ``j`` of a list gets score ``k - j``; items not in the list get ``-inf`` and therefore
    tie with each other: under the ``"average"`` rule a target outside the list is placed uniformly
    among the unlisted items. Negative ids are padding and ignored; a repeated id keeps its first
    (best) position.

    Args:
        item_ids: ``(U, k)`` ranked item indices per user.
        num_items: catalogue size ``N``.

    Returns:
        ``(U, N)`` float32 scores.

    Example:
        >>> scores_from_topk(torch.tensor([[2, 0, -1]]), 4).tolist()
        [[2.0, -inf, 3.0, -inf]]
    """
    ids = torch.as_tensor(item_ids)
    if ids.dim() != 2 or ids.numel() == 0:
        raise ValueError(
            f"item_ids must be a non-empty (U, k) tensor, got shape {tuple(ids.shape)}"
        )
    if ids.dtype.is_floating_point or ids.dtype == torch.bool:
        raise ValueError(f"item_ids must hold integer item indices, got dtype {ids.dtype}")
    if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 1:
        raise ValueError(f"num_items must be an integer >= 1, got {num_items!r}")
    if ids.max() >= num_items:
        raise ValueError(f"item_ids must be < num_items={num_items}")
    k = ids.shape[1]
    rank_score = (k - torch.arange(k, dtype=torch.float32)).expand_as(ids).clone()
    valid = ids >= 0
    # Padding goes to an extra column that is dropped afterwards.
    cols = torch.where(valid, ids.long(), torch.full_like(ids.long(), num_items))
    scores = torch.full((ids.shape[0], num_items + 1), float("-inf"))
    scores.scatter_reduce_(1, cols, rank_score, reduce="amax")
    return scores[:, :num_items]


# --------------------------------------------------------------------------------------------------
# CTR
# --------------------------------------------------------------------------------------------------


def evaluate_ctr(
    logits: torch.Tensor, labels: torch.Tensor, groups: torch.Tensor | None = None
) -> dict[str, float]:
    """The ``ctr`` protocol: AUC and LogLoss, and GAUC when ``groups`` (e.g. user ids) is given.

    Args:
        logits: ``(n,)`` model outputs (logits, as every recnotes ranking model returns).
        labels: ``(n,)`` 0/1 labels.
        groups: optional ``(n,)`` group id per row for GAUC.

    Returns:
        ``{"auc", "logloss", "impressions"}`` plus, with groups, ``"gauc"``, ``"gauc_groups"``,
        ``"gauc_skipped_groups"`` and ``"gauc_skipped_impressions"`` (groups with one class are
        skipped; see [`gauc`][recnotes.metrics.gauc]).

    Example:
        >>> r = evaluate_ctr(torch.tensor([2.0, -1.0, 0.5, 1.0]), torch.tensor([1, 0, 0, 1]),
        ...                  groups=torch.tensor([0, 0, 1, 1]))
        >>> r["auc"], r["gauc"], r["gauc_skipped_groups"]
        (1.0, 1.0, 0)
    """
    logits = torch.as_tensor(logits).detach()
    out: dict[str, float] = {
        "auc": M.auc(labels, logits),
        "logloss": M.log_loss(labels, logits),
        "impressions": int(logits.numel()),
    }
    if groups is not None:
        g = M.gauc(labels, logits, groups)
        out.update(
            gauc=g.value,
            gauc_groups=g.groups,
            gauc_skipped_groups=g.skipped_groups,
            gauc_skipped_impressions=g.skipped_impressions,
        )
    return out


# --------------------------------------------------------------------------------------------------
# Model-level conveniences (the family contracts of DESIGN.md)
# --------------------------------------------------------------------------------------------------


class _EvalMode:
    """Eval mode and no gradients inside; the model's previous mode restored afterwards."""

    def __init__(self, model: nn.Module) -> None:
        self.model, self.was_training = model, model.training
        self.no_grad = torch.no_grad()

    def __enter__(self) -> None:
        self.model.eval()
        self.no_grad.__enter__()

    def __exit__(self, *exc: Any) -> None:
        self.no_grad.__exit__(*exc)
        self.model.train(self.was_training)


def _batch_rows(batch: Mapping[str, torch.Tensor]) -> int:
    sizes = {v.shape[0] for v in batch.values() if isinstance(v, torch.Tensor) and v.dim() > 0}
    if len(sizes) != 1:
        raise ValueError(
            f"every tensor in user_batch must have the same number of rows, got {sorted(sizes)}"
        )
    return sizes.pop()


def evaluate_retriever(
    model: nn.Module,
    user_batch: Mapping[str, torch.Tensor],
    item_batch: Mapping[str, torch.Tensor],
    targets: torch.Tensor,
    seen: Seen | None,
    *,
    protocol: str = FULL,
    negatives: torch.Tensor | None = None,
    num_negatives: int = 100,
    seed: int = 0,
    exclude_items: torch.Tensor | None = None,
    ks: Iterable[int] = DEFAULT_KS,
    metrics: Iterable[str] = _DEFAULT_METRICS,
    tie_rule: M.TieRule = "average",
    batch_size: int = 1024,
) -> dict[str, float]:
    """Evaluate a recall-family model (``user_embedding``/``item_embedding``) under a protocol.

    The model runs in eval mode under ``torch.no_grad()`` (its mode is restored afterwards).
    ``model.user_embedding`` is called on row chunks of ``user_batch`` (row ``u`` is the user of
    ``targets[u]``) and ``model.item_embedding(item_batch)`` once; row ``i`` of the item matrix is
    item index ``i``, the index space of ``targets``, ``seen``, ``negatives`` and ``exclude_items``.

    Args:
        model: a recall or sequential-recall model.
        user_batch: batch dict of the ``U`` evaluated users (with their histories).
        item_batch: batch dict describing all ``N`` items.
        targets: ``(U,)`` target per user; negative: skipped and counted.
        seen: per-user items to filter (``full``) or never sample (``sampled``), or ``None``.
            Must be ``None`` for ``fixed``, whose negatives are given.
        protocol: ``"full"``, ``"sampled"`` or ``"fixed"``
            ([`RETRIEVAL_PROTOCOLS`][recnotes.evaluate.RETRIEVAL_PROTOCOLS]).
        negatives: ``(U, n)`` negatives for ``fixed``.
        num_negatives: negatives per user for ``sampled``.
        seed: seed for ``sampled``.
        exclude_items: item indices never ranked or sampled (e.g. padding id 0).
        ks: cut-offs.
        metrics: names from [`RANKING_METRICS`][recnotes.evaluate.RANKING_METRICS].
        tie_rule: one of [`TIE_RULES`][recnotes.metrics.TIE_RULES].
        batch_size: users per chunk.

    Returns:
        Metric dict as [`ranking_metrics`][recnotes.evaluate.ranking_metrics].
    """
    if protocol not in RETRIEVAL_PROTOCOLS:
        raise ValueError(f"protocol must be one of {RETRIEVAL_PROTOCOLS}, got {protocol!r}")
    if protocol == FIXED and (negatives is None or seen is not None):
        raise ValueError("protocol 'fixed' needs negatives and seen=None (the negatives are given)")
    if protocol != FIXED and negatives is not None:
        raise ValueError(f"negatives are only used by protocol 'fixed', not {protocol!r}")
    batch_size = _check_batch_size(batch_size)
    rows = _batch_rows(user_batch)
    with _EvalMode(model):
        item_vectors = model.item_embedding(dict(item_batch))
        user_vectors = torch.cat(
            [
                model.user_embedding({k: v[i : i + batch_size] for k, v in user_batch.items()})
                for i in range(0, rows, batch_size)
            ]
        )
    options = dict(ks=ks, metrics=metrics, tie_rule=tie_rule)
    if protocol == FULL:
        return full_ranking(
            user_vectors,
            item_vectors,
            targets,
            seen,
            exclude_items=exclude_items,
            batch_size=batch_size,
            **options,
        )
    _check_vectors(user_vectors, item_vectors)
    if protocol == SAMPLED:
        negatives = sample_negatives(
            targets,
            item_vectors.shape[0],
            num_negatives,
            seen,
            exclude_items=exclude_items,
            seed=seed,
        )
    neg = torch.as_tensor(negatives)
    if neg.numel() and (neg.min() < 0 or neg.max() >= item_vectors.shape[0]):
        raise ValueError(f"negatives must be item indices in [0, {item_vectors.shape[0]})")
    return sampled_ranking(
        dot_scorer(user_vectors, item_vectors), targets, neg, batch_size=batch_size, **options
    )


def evaluate_ranker(
    model: nn.Module,
    batches: Iterable[Mapping[str, torch.Tensor]],
    *,
    label_key: str = "label",
    group_key: str | None = None,
) -> dict[str, float]:
    """Evaluate a ranking-family model (``forward(batch) -> logits (B,)``) under protocol ``ctr``.

    Args:
        model: a ranking model.
        batches: batch dicts, each with the ``label_key`` column (0/1).
        label_key: the label column.
        group_key: optional column for GAUC (e.g. ``"user_ids"``).

    Returns:
        The dict of [`evaluate_ctr`][recnotes.evaluate.evaluate_ctr].
    """
    logits, labels, groups = [], [], []
    with _EvalMode(model):
        for batch in batches:
            for key in (label_key,) + ((group_key,) if group_key else ()):
                if key not in batch:
                    raise ValueError(f"batch has no '{key}' column (keys: {sorted(batch)})")
            out = model(dict(batch))
            if out.dim() != 1 or out.shape[0] != batch[label_key].shape[0]:
                raise ValueError(f"model must return logits of shape (B,), got {tuple(out.shape)}")
            logits.append(out.float())
            labels.append(batch[label_key])
            if group_key:
                groups.append(batch[group_key])
    if not logits:
        raise ValueError("batches is empty")
    return evaluate_ctr(
        torch.cat(logits), torch.cat(labels), torch.cat(groups) if group_key else None
    )
