"""Metrics for every stage: CTR (AUC, GAUC, LogLoss), ranking (HR, NDCG, MRR, Recall, Precision @k)
and lists (ILD, coverage).

Tensors go in, Python floats come out (or a per-row tensor with ``reduction="none"``). Everything is
vectorised: no Python loop over rows, users or groups. Sums are taken in float64.

**Ranking metrics are computed from the rank of the target, never from an ``argsort`` position.**
For one user with a single target item (leave-one-out), let

* ``higher`` = the number of candidates that score *strictly* higher than the target, and
* ``ties`` = the number of *other* candidates that score exactly the same as the target.

The target then occupies one of the 0-based positions ``higher, ..., higher + ties``, and a tie rule
says which ([`TIE_RULES`][recnotes.metrics.TIE_RULES]):

* ``"average"`` (default): the expected metric when the tie is broken uniformly at random, i.e. the
  metric averaged over the ``ties + 1`` positions. A model that gives every item the same score gets
  exactly the metric of a random ranking (HR@k = k/N), never a perfect score.
* ``"pessimistic"``: the target goes after all of its ties (position ``higher + ties``).
* ``"optimistic"``: the target goes before all of its ties (position ``higher``).

[`target_rank_counts`][recnotes.metrics.target_rank_counts] computes ``(higher, ties)`` from a
score matrix; [`recnotes.evaluate`][recnotes.evaluate] adds seen-item filtering, chunking and the
evaluation protocols.

Example:
    >>> import torch
    >>> scores = torch.tensor([[0.9, 0.5, 0.5, 0.1],
    ...                        [0.2, 0.2, 0.2, 0.2]])
    >>> higher, ties = target_rank_counts(scores, torch.tensor([1, 0]))
    >>> higher.tolist(), ties.tolist()
    ([1, 0], [1, 3])
    >>> hit_rate_at_k(higher, ties, k=2, reduction="none").tolist()
    [0.5, 0.5]
    >>> hit_rate_at_k(higher, ties, k=2, tie_rule="pessimistic", reduction="none").tolist()
    [0.0, 0.0]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F

__all__ = [
    "TIE_RULES",
    "GAUCResult",
    "auc",
    "gauc",
    "log_loss",
    "target_rank_counts",
    "hit_rate_at_k",
    "ndcg_at_k",
    "mrr",
    "recall_at_k",
    "precision_at_k",
    "ild",
    "coverage",
]

TieRule = Literal["average", "pessimistic", "optimistic"]
Reduction = Literal["mean", "none"]

TIE_RULES: tuple[str, ...] = ("average", "pessimistic", "optimistic")
"""How a target that ties with other candidates is placed (see the module docstring)."""
_REDUCTIONS: tuple[str, ...] = ("mean", "none")


# --------------------------------------------------------------------------------------------------
# Input checks: every public function names the argument that is wrong.
# --------------------------------------------------------------------------------------------------


def _tensor(name: str, value: object) -> torch.Tensor:
    try:
        t = torch.as_tensor(value)
    except (TypeError, ValueError, RuntimeError) as err:
        raise ValueError(
            f"{name} must be a tensor (or array-like), got {type(value).__name__}"
        ) from err
    if t.numel() == 0:
        raise ValueError(f"{name} is empty")
    return t


def _float_tensor(name: str, value: object, ndim: int | tuple[int, ...]) -> torch.Tensor:
    t = _tensor(name, value)
    dims = (ndim,) if isinstance(ndim, int) else ndim
    if t.dim() not in dims:
        raise ValueError(
            f"{name} must have {' or '.join(map(str, dims))} dimension(s), "
            f"got shape {tuple(t.shape)}"
        )
    if t.dtype == torch.bool or t.is_complex():
        raise ValueError(f"{name} must be real numbers, got dtype {t.dtype}")
    t = t.to(torch.float64)
    if torch.isnan(t).any():
        raise ValueError(f"{name} contains NaN")
    return t


def _binary_labels(name: str, value: object, length: int) -> torch.Tensor:
    t = _tensor(name, value)
    if t.dim() != 1:
        raise ValueError(f"{name} must be 1-D, got shape {tuple(t.shape)}")
    if t.shape[0] != length:
        raise ValueError(f"{name} has {t.shape[0]} entries but the scores have {length}")
    t = t.to(torch.float64)
    if not ((t == 0) | (t == 1)).all():
        bad = t[(t != 0) & (t != 1)][:3].tolist()
        raise ValueError(f"{name} must be 0 or 1, found {bad}")
    return t


def _check_k(k: object, name: str = "k") -> int:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {k!r}")
    return k


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _reduce(values: torch.Tensor, reduction: str) -> float | torch.Tensor:
    _check_choice("reduction", reduction, _REDUCTIONS)
    return values.mean().item() if reduction == "mean" else values


def _rank_counts_input(higher: object, ties: object) -> tuple[torch.Tensor, torch.Tensor]:
    h, t = _tensor("higher", higher), _tensor("ties", ties)
    for name, x in (("higher", h), ("ties", t)):
        if x.dim() != 1:
            raise ValueError(f"{name} must be 1-D (one count per user), got shape {tuple(x.shape)}")
        if x.dtype.is_floating_point or x.dtype == torch.bool or x.is_complex():
            raise ValueError(f"{name} must hold integer counts, got dtype {x.dtype}")
        if (x < 0).any():
            raise ValueError(f"{name} must be >= 0")
    if h.shape != t.shape:
        raise ValueError(
            f"higher {tuple(h.shape)} and ties {tuple(t.shape)} must have the same shape"
        )
    return h.long(), t.long()


# --------------------------------------------------------------------------------------------------
# CTR: AUC, GAUC, LogLoss
# --------------------------------------------------------------------------------------------------


def _grouped_auc(
    labels: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor, num_groups: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Per-group AUC by the rank-sum (Mann-Whitney) formula with average ranks for ties.

    ``groups`` holds dense ids ``0..num_groups-1``. Returns ``(auc, positives, negatives)`` per
    group; ``auc`` is NaN for a group with a single class. No Python loop: one lexicographic sort
    by (group, score), then segment sums with ``bincount``.
    """
    n = scores.shape[0]
    by_score = torch.argsort(scores, stable=True)
    order = by_score[torch.argsort(groups[by_score], stable=True)]  # sorted by (group, score)
    g, s, y = groups[order], scores[order], labels[order]

    # A tie block is a run of equal scores inside one group.
    new_block = torch.ones(n, dtype=torch.bool)
    new_block[1:] = (g[1:] != g[:-1]) | (s[1:] != s[:-1])
    block = torch.cumsum(new_block, 0) - 1
    block_size = torch.bincount(block)
    block_start = torch.cumsum(block_size, 0) - block_size  # index in the sorted array

    group_size = torch.bincount(g, minlength=num_groups)
    group_start = torch.cumsum(group_size, 0) - group_size
    # 1-based rank inside the group; tied scores share the mean of their ranks.
    rank = (block_start[block] - group_start[g]).double() + (block_size[block].double() + 1) / 2

    pos = torch.bincount(g, weights=y, minlength=num_groups)
    neg = group_size.double() - pos
    rank_sum = torch.bincount(g, weights=y * rank, minlength=num_groups)
    value = (rank_sum - pos * (pos + 1) / 2) / (pos * neg)  # 0/0 -> NaN for single-class groups
    return value, pos, neg


def auc(labels: torch.Tensor, scores: torch.Tensor) -> float:
    r"""Area under the ROC curve, with tied scores counted as half a correct pair.

    $$\mathrm{AUC} = \frac{1}{|P|\,|N|} \sum_{i \in P} \sum_{j \in N}
      \Big(\mathbb{1}[s_i > s_j] + \tfrac12\,\mathbb{1}[s_i = s_j]\Big)
      = \frac{\sum_{i \in P} r_i - |P|(|P|+1)/2}{|P|\,|N|}$$

    where ``r_i`` is the 1-based rank of ``s_i`` among all scores (ascending), tied scores sharing
    the mean of their ranks (Mann-Whitney U). Scores may be logits or probabilities: only their
    order matters.

    Args:
        labels: ``(n,)`` values in {0, 1} (bool, int or float).
        scores: ``(n,)`` real scores, no NaN.

    Returns:
        The AUC in [0, 1].

    Raises:
        ValueError: on a shape mismatch, empty input, labels outside {0, 1}, NaN scores, or when
            only one class is present (AUC is undefined).

    Example:
        >>> round(auc(torch.tensor([0, 0, 1, 1]), torch.tensor([0.1, 0.4, 0.35, 0.8])), 4)
        0.75
        >>> auc(torch.tensor([0, 1]), torch.tensor([0.5, 0.5]))  # a tie is half right
        0.5
    """
    s = _float_tensor("scores", scores, 1)
    y = _binary_labels("labels", labels, s.shape[0])
    value, pos, neg = _grouped_auc(y, s, torch.zeros_like(s, dtype=torch.long), 1)
    if pos.item() == 0 or neg.item() == 0:
        raise ValueError("labels contain a single class; AUC needs both positives and negatives")
    return value.item()


@dataclass(frozen=True)
class GAUCResult:
    """GAUC and what it left out.

    Attributes:
        value: impression-weighted mean of the per-group AUCs over the counted groups.
        groups: number of groups counted (both classes present).
        impressions: number of rows in the counted groups (the total weight).
        skipped_groups: groups left out because all their labels are equal (AUC undefined).
        skipped_impressions: rows in the skipped groups.
    """

    value: float
    groups: int
    impressions: int
    skipped_groups: int
    skipped_impressions: int


def gauc(labels: torch.Tensor, scores: torch.Tensor, groups: torch.Tensor) -> GAUCResult:
    r"""Group AUC (Zhou et al., DIN, KDD 2018): per-group AUC weighted by the group's impressions.

    $$\mathrm{GAUC} = \frac{\sum_{g \in G^*} n_g \,\mathrm{AUC}_g}{\sum_{g \in G^*} n_g}$$

    where ``n_g`` is the number of rows (impressions) of group ``g`` (usually a user) and ``G*`` the
    groups that have at least one positive and one negative. A group with a single class has no
    AUC; it is skipped, and the result says how many groups and impressions were skipped so the
    omission is never silent. Ties inside a group count half, as in [`auc`][recnotes.metrics.auc].

    Args:
        labels: ``(n,)`` values in {0, 1}.
        scores: ``(n,)`` real scores, no NaN.
        groups: ``(n,)`` integer group ids (any values, e.g. user ids).

    Returns:
        A [`GAUCResult`][recnotes.metrics.GAUCResult]: the value, and the counted and skipped
        groups and impressions.

    Raises:
        ValueError: on bad shapes or labels, or when every group has a single class.

    Example:
        >>> r = gauc(labels=torch.tensor([1, 0, 0, 1, 1, 1]),
        ...          scores=torch.tensor([0.9, 0.2, 0.3, 0.1, 0.5, 0.7]),
        ...          groups=torch.tensor([7, 7, 8, 8, 9, 9]))
        >>> r.value, r.groups, r.impressions, r.skipped_groups, r.skipped_impressions
        (0.5, 2, 4, 1, 2)
    """
    s = _float_tensor("scores", scores, 1)
    y = _binary_labels("labels", labels, s.shape[0])
    g = _tensor("groups", groups)
    if g.dim() != 1 or g.shape[0] != s.shape[0]:
        raise ValueError(
            f"groups must have shape ({s.shape[0]},) like scores, got {tuple(g.shape)}"
        )
    if g.dtype.is_floating_point or g.is_complex():
        raise ValueError(f"groups must hold integer ids, got dtype {g.dtype}")
    _, dense = torch.unique(g, return_inverse=True)
    num_groups = int(dense.max()) + 1
    value, pos, neg = _grouped_auc(y, s, dense, num_groups)
    size = pos + neg
    counted = (pos > 0) & (neg > 0)
    if not counted.any():
        raise ValueError(
            f"every one of the {num_groups} groups has a single class; GAUC is undefined"
        )
    weights = size[counted]
    result = (value[counted] * weights).sum() / weights.sum()
    return GAUCResult(
        value=result.item(),
        groups=int(counted.sum()),
        impressions=int(weights.sum()),
        skipped_groups=int((~counted).sum()),
        skipped_impressions=int(size[~counted].sum()),
    )


def log_loss(
    labels: torch.Tensor,
    predictions: torch.Tensor,
    *,
    from_logits: bool = True,
    eps: float = 1e-15,
) -> float:
    r"""Mean binary cross-entropy (LogLoss).

    $$\mathrm{LogLoss} = -\frac{1}{n}\sum_{i=1}^{n}
      \big[y_i \log p_i + (1 - y_i)\log(1 - p_i)\big], \qquad p_i = \sigma(z_i)$$

    recnotes models return logits ``z``, so logits are the default input. From logits the loss is
    computed as ``softplus(z) - y z`` in float64, which is exact and finite for every finite logit:
    no clamping happens. With ``from_logits=False`` the inputs are probabilities, and they are
    clamped to ``[eps, 1 - eps]`` first so that a confident mistake costs ``-log(eps)`` (about 34.5
    for the default ``eps=1e-15``) instead of infinity. This is the only clamping.

    Args:
        labels: ``(n,)`` values in {0, 1}.
        predictions: ``(n,)`` logits (default) or probabilities in [0, 1] (``from_logits=False``).
        from_logits: whether ``predictions`` are logits.
        eps: clamp for probabilities; must be in (0, 0.5).

    Returns:
        The mean loss (natural log).

    Raises:
        ValueError: on bad shapes, labels, NaN, probabilities outside [0, 1] or a bad ``eps``.

    Example:
        >>> round(log_loss(torch.tensor([1, 0]), torch.tensor([0.0, 0.0])), 4)  # log 2
        0.6931
        >>> round(log_loss(torch.tensor([1, 0]), torch.tensor([0.8, 0.4]), from_logits=False), 4)
        0.367
    """
    z = _float_tensor("predictions", predictions, 1)
    y = _binary_labels("labels", labels, z.shape[0])
    if from_logits:
        return F.binary_cross_entropy_with_logits(z, y).item()
    if not 0.0 < eps < 0.5:
        raise ValueError(f"eps must be in (0, 0.5), got {eps}")
    if ((z < 0) | (z > 1)).any():
        raise ValueError("predictions must be probabilities in [0, 1] when from_logits=False")
    p = z.clamp(eps, 1.0 - eps)
    return (-(y * torch.log(p) + (1 - y) * torch.log1p(-p))).mean().item()


# --------------------------------------------------------------------------------------------------
# Ranking with a single target per user: rank counts and the tie rules
# --------------------------------------------------------------------------------------------------


def target_rank_counts(
    scores: torch.Tensor, targets: torch.Tensor, exclude: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    r"""The rank of each user's target as ``(higher, ties)`` counts.

    $$h_u = \big|\{j \notin E_u : s_{uj} > s_{ut_u}\}\big|, \qquad
      t_u = \big|\{j \ne t_u,\ j \notin E_u : s_{uj} = s_{ut_u}\}\big|$$

    Excluded candidates ``E_u`` (e.g. items the user has already seen) are neither higher nor tied;
    the target itself is never excluded, even when ``exclude`` marks it.

    Args:
        scores: ``(U, N)`` scores of ``N`` candidates for ``U`` users (no NaN; ``-inf`` is a valid
            score and ties with other ``-inf`` scores).
        targets: ``(U,)`` column index of each user's target, in ``[0, N)``.
        exclude: optional ``(U, N)`` bool mask of candidates to drop.

    Returns:
        ``(higher, ties)``, two int64 tensors of shape ``(U,)``.

    Raises:
        ValueError: on bad shapes, NaN scores or out-of-range targets.

    Example:
        >>> s = torch.tensor([[3.0, 1.0, 3.0, 2.0]])
        >>> [c.tolist() for c in target_rank_counts(s, torch.tensor([3]))]
        [[2], [0]]
        >>> drop = torch.tensor([[True, False, False, False]])
        >>> [c.tolist() for c in target_rank_counts(s, torch.tensor([3]), exclude=drop)]
        [[1], [0]]
    """
    s = _tensor("scores", scores)
    if s.dim() != 2:
        raise ValueError(f"scores must be 2-D (users, candidates), got shape {tuple(s.shape)}")
    if not s.dtype.is_floating_point:
        s = s.double()
    if torch.isnan(s).any():
        raise ValueError("scores contain NaN")
    t = _tensor("targets", targets)
    if t.dim() != 1 or t.shape[0] != s.shape[0]:
        raise ValueError(f"targets must have shape ({s.shape[0]},), got {tuple(t.shape)}")
    if t.dtype.is_floating_point or t.dtype == torch.bool:
        raise ValueError(f"targets must hold integer column indices, got dtype {t.dtype}")
    t = t.long()
    if (t < 0).any() or (t >= s.shape[1]).any():
        raise ValueError(f"targets must be column indices in [0, {s.shape[1]})")
    rows = torch.arange(s.shape[0])
    if exclude is not None:
        if not isinstance(exclude, torch.Tensor) or exclude.dtype != torch.bool:
            raise ValueError("exclude must be a bool tensor")
        if exclude.shape != s.shape:
            raise ValueError(
                f"exclude must have the shape of scores {tuple(s.shape)}, "
                f"got {tuple(exclude.shape)}"
            )
        keep = s[rows, t]
        # NaN compares false with everything: an excluded candidate is neither higher nor tied.
        s = s.masked_fill(exclude, float("nan"))
        s[rows, t] = keep
    target_score = s[rows, t].unsqueeze(1)
    higher = (s > target_score).sum(1)
    ties = (s == target_score).sum(1) - 1  # the target equals itself
    return higher, ties


def _expected_gain(
    higher: torch.Tensor,
    ties: torch.Tensor,
    gain: torch.Tensor,
    tie_rule: str,
) -> torch.Tensor:
    """Gain of the target's position under a tie rule.

    ``gain[p]`` is the gain of 0-based position ``p`` for ``p < len(gain)``; later positions gain 0
    (the cut-off). For ``"average"`` the result is the mean gain over positions
    ``higher .. higher + ties``, from a cumulative table: ``(C[end] - C[start]) / (ties + 1)``.
    """
    _check_choice("tie_rule", tie_rule, TIE_RULES)
    cut = gain.shape[0]
    pos = higher + ties if tie_rule == "pessimistic" else higher
    exact = torch.where(pos < cut, gain[pos.clamp(max=cut - 1)], torch.zeros((), dtype=gain.dtype))
    if tie_rule != "average":
        return exact
    table = torch.zeros(cut + 1, dtype=torch.float64)
    table[1:] = torch.cumsum(gain, 0)
    start = higher.clamp(max=cut)
    end = (higher + ties + 1).clamp(max=cut)
    spread = (table[end] - table[start]) / (ties + 1).double()
    return torch.where(ties == 0, exact, spread)  # no tie: read the gain, free of cumsum rounding


def _cut(k: int | None, higher: torch.Tensor, ties: torch.Tensor) -> int:
    """Length of the gain table: the cut-off, no longer than the last position any user reaches."""
    last = int((higher + ties).max()) + 1
    return last if k is None else min(k, last)


def hit_rate_at_k(
    higher: torch.Tensor,
    ties: torch.Tensor,
    k: int,
    *,
    tie_rule: TieRule = "average",
    reduction: Reduction = "mean",
) -> float | torch.Tensor:
    r"""Hit rate at k: is the target among the top k?

    $$\mathrm{HR@k} = \frac{1}{|U|}\sum_{u} \mathbb{1}[r_u < k]$$

    with ``r_u`` the 0-based position of the target. Under ``"average"`` the indicator becomes the
    share of the tie span that lands in the top k: ``clip(k - h, 0, t + 1) / (t + 1)``. With a
    single target per user (leave-one-out), HR@k equals Recall@k.

    Args:
        higher: ``(U,)`` candidates scoring strictly higher than the target.
        ties: ``(U,)`` other candidates scoring the same as the target.
        k: the cut-off, ``>= 1``.
        tie_rule: one of [`TIE_RULES`][recnotes.metrics.TIE_RULES].
        reduction: ``"mean"`` (a float) or ``"none"`` (a float64 tensor per user).

    Example:
        >>> h, t = torch.tensor([0, 4, 1]), torch.tensor([0, 0, 3])
        >>> hit_rate_at_k(h, t, k=2, reduction="none").tolist()
        [1.0, 0.0, 0.25]
        >>> hit_rate_at_k(h, t, k=2, tie_rule="optimistic", reduction="none").tolist()
        [1.0, 0.0, 1.0]
    """
    h, t = _rank_counts_input(higher, ties)
    k = _check_k(k)
    gain = torch.ones(_cut(k, h, t), dtype=torch.float64)
    return _reduce(_expected_gain(h, t, gain, tie_rule), reduction)


def ndcg_at_k(
    higher: torch.Tensor,
    ties: torch.Tensor,
    k: int,
    *,
    tie_rule: TieRule = "average",
    reduction: Reduction = "mean",
) -> float | torch.Tensor:
    r"""Normalised discounted cumulative gain at k for a single relevant item per user.

    $$\mathrm{NDCG@k} = \frac{1}{|U|}\sum_u \frac{\mathbb{1}[r_u < k]}{\log_2(r_u + 2)}$$

    (the ideal DCG of one relevant item is 1). Under ``"average"`` it is the mean of
    ``1 / log2(p + 2)`` over the tie span ``p = h .. h + t`` (positions ``>= k`` gain 0), which is
    also what scikit-learn's ``ndcg_score`` computes for ties.

    Args:
        higher: ``(U,)`` candidates scoring strictly higher than the target.
        ties: ``(U,)`` other candidates scoring the same as the target.
        k: the cut-off, ``>= 1``.
        tie_rule: one of [`TIE_RULES`][recnotes.metrics.TIE_RULES].
        reduction: ``"mean"`` or ``"none"``.

    Example:
        >>> h, t = torch.tensor([0, 2, 0]), torch.tensor([0, 0, 1])
        >>> [round(v, 4) for v in ndcg_at_k(h, t, k=10, reduction="none").tolist()]
        [1.0, 0.5, 0.8155]
    """
    h, t = _rank_counts_input(higher, ties)
    k = _check_k(k)
    positions = torch.arange(_cut(k, h, t), dtype=torch.float64)
    return _reduce(_expected_gain(h, t, 1.0 / torch.log2(positions + 2), tie_rule), reduction)


def mrr(
    higher: torch.Tensor,
    ties: torch.Tensor,
    *,
    k: int | None = None,
    tie_rule: TieRule = "average",
    reduction: Reduction = "mean",
) -> float | torch.Tensor:
    r"""Mean reciprocal rank of the target (optionally cut at k).

    $$\mathrm{MRR} = \frac{1}{|U|}\sum_u \frac{1}{r_u + 1}
      \quad\Big(\text{MRR@k: } \frac{\mathbb{1}[r_u < k]}{r_u + 1}\Big)$$

    Under ``"average"`` the reciprocal rank is averaged over the tie span.

    Args:
        higher: ``(U,)`` candidates scoring strictly higher than the target.
        ties: ``(U,)`` other candidates scoring the same as the target.
        k: optional cut-off (``None``: no cut-off).
        tie_rule: one of [`TIE_RULES`][recnotes.metrics.TIE_RULES].
        reduction: ``"mean"`` or ``"none"``.

    Example:
        >>> h, t = torch.tensor([0, 3, 0]), torch.tensor([0, 0, 1])
        >>> mrr(h, t, reduction="none").tolist()
        [1.0, 0.25, 0.75]
        >>> mrr(h, t, k=3, reduction="none").tolist()
        [1.0, 0.0, 0.75]
    """
    h, t = _rank_counts_input(higher, ties)
    if k is not None:
        k = _check_k(k)
    positions = torch.arange(_cut(k, h, t), dtype=torch.float64)
    return _reduce(_expected_gain(h, t, 1.0 / (positions + 1), tie_rule), reduction)


# --------------------------------------------------------------------------------------------------
# Ranking with several relevant items per user: Recall@k and Precision@k
# --------------------------------------------------------------------------------------------------


def _hits_at_k(
    scores: object, relevant: object, k: int, tie_rule: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Expected number of relevant items in the top k, and the number of relevant items, per user.

    Let ``s*`` be the k-th highest score of a row. Items above ``s*`` are in the top k; the
    ``m`` items equal to ``s*`` compete for the remaining ``k - above`` slots. Under ``"average"``
    each of them gets a slot with probability ``(k - above) / m``.
    """
    s = _float_tensor("scores", scores, 2)
    rel = _tensor("relevant", relevant)
    if rel.dtype != torch.bool:
        raise ValueError(f"relevant must be a bool tensor, got dtype {rel.dtype}")
    if rel.shape != s.shape:
        raise ValueError(
            f"relevant must have the shape of scores {tuple(s.shape)}, got {tuple(rel.shape)}"
        )
    k = _check_k(k)
    _check_choice("tie_rule", tie_rule, TIE_RULES)
    num_relevant = rel.sum(1)
    if (num_relevant == 0).any():
        row = int(torch.nonzero(num_relevant == 0)[0])
        raise ValueError(
            f"relevant row {row} has no relevant item; "
            "drop users without test items before evaluating"
        )
    kk = min(k, s.shape[1])
    threshold = torch.topk(s, kk, dim=1).values[:, -1:]  # (U, 1) the k-th highest score
    above, tied = s > threshold, s == threshold
    slots = kk - above.sum(1)  # >= 1
    n_tied = tied.sum(1)
    rel_above = (above & rel).sum(1)
    rel_tied = (tied & rel).sum(1)
    if tie_rule == "average":
        from_ties = rel_tied.double() * slots / n_tied
    elif tie_rule == "optimistic":
        from_ties = torch.minimum(slots, rel_tied).double()
    else:  # pessimistic: the irrelevant tied items take the slots first
        from_ties = (slots - (n_tied - rel_tied)).clamp(min=0).double()
    return rel_above.double() + from_ties, num_relevant.double()


def recall_at_k(
    scores: torch.Tensor,
    relevant: torch.Tensor,
    k: int,
    *,
    tie_rule: TieRule = "average",
    reduction: Reduction = "mean",
) -> float | torch.Tensor:
    r"""Recall at k with any number of relevant items per user.

    $$\mathrm{Recall@k} = \frac{1}{|U|}\sum_u \frac{|\mathrm{top}_k(u) \cap R_u|}{|R_u|}$$

    Ties at the k-th score are resolved by ``tie_rule`` (``"average"``: the expected count under a
    random tie-break). With one relevant item per user this is HR@k.

    Args:
        scores: ``(U, N)`` candidate scores (mask unwanted candidates with ``-inf`` beforehand).
        relevant: ``(U, N)`` bool, True where an item is relevant; every row needs one.
        k: the cut-off, ``>= 1``.
        tie_rule: one of [`TIE_RULES`][recnotes.metrics.TIE_RULES].
        reduction: ``"mean"`` or ``"none"``.

    Example:
        >>> s = torch.tensor([[0.9, 0.8, 0.7, 0.1]])
        >>> rel = torch.tensor([[True, False, True, True]])
        >>> round(recall_at_k(s, rel, k=2), 4)
        0.3333
    """
    hits, num_relevant = _hits_at_k(scores, relevant, k, tie_rule)
    return _reduce(hits / num_relevant, reduction)


def precision_at_k(
    scores: torch.Tensor,
    relevant: torch.Tensor,
    k: int,
    *,
    tie_rule: TieRule = "average",
    reduction: Reduction = "mean",
) -> float | torch.Tensor:
    r"""Precision at k with any number of relevant items per user.

    $$\mathrm{Precision@k} = \frac{1}{|U|}\sum_u \frac{|\mathrm{top}_k(u) \cap R_u|}{k}$$

    The denominator is always k, also when fewer than k candidates exist. Ties as in
    [`recall_at_k`][recnotes.metrics.recall_at_k].

    Args:
        scores: ``(U, N)`` candidate scores.
        relevant: ``(U, N)`` bool, True where an item is relevant; every row needs one.
        k: the cut-off, ``>= 1``.
        tie_rule: one of [`TIE_RULES`][recnotes.metrics.TIE_RULES].
        reduction: ``"mean"`` or ``"none"``.

    Example:
        >>> s = torch.tensor([[0.9, 0.8, 0.7, 0.1]])
        >>> rel = torch.tensor([[True, False, True, True]])
        >>> precision_at_k(s, rel, k=2)
        0.5
    """
    hits, _ = _hits_at_k(scores, relevant, k, tie_rule)
    return _reduce(hits / k, reduction)


# --------------------------------------------------------------------------------------------------
# Lists: diversity and coverage
# --------------------------------------------------------------------------------------------------


def ild(item_vectors: torch.Tensor, *, reduction: Reduction = "mean") -> float | torch.Tensor:
    r"""Intra-list diversity: mean pairwise cosine distance over the distinct pairs of a list.

    $$\mathrm{ILD}(L) = \frac{2}{k(k-1)} \sum_{i < j}
      \Big(1 - \frac{v_i^\top v_j}{\lVert v_i\rVert\,\lVert v_j\rVert}\Big)$$

    Args:
        item_vectors: ``(k, D)`` vectors of one list, or ``(B, k, D)`` for ``B`` lists; ``k >= 2``
            and no zero vectors (cosine is undefined for them).
        reduction: for ``(B, k, D)``, ``"mean"`` over lists or ``"none"`` (one value per list).

    Returns:
        The ILD in [0, 2] (a float, or a ``(B,)`` tensor with ``reduction="none"``).

    Example:
        >>> round(ild(torch.eye(3)), 4)  # orthogonal: every pair at distance 1
        1.0
        >>> round(ild(torch.ones(4, 2)), 4)  # identical: no diversity
        0.0
    """
    v = _float_tensor("item_vectors", item_vectors, (2, 3))
    single = v.dim() == 2
    if single:
        v = v.unsqueeze(0)
    k = v.shape[1]
    if k < 2:
        raise ValueError(f"item_vectors needs at least 2 items per list for pairs, got {k}")
    if v.shape[2] < 1:
        raise ValueError("item_vectors has zero-dimensional vectors")
    norms = v.norm(dim=-1)
    if (norms == 0).any():
        raise ValueError("item_vectors contains a zero vector; its cosine similarity is undefined")
    unit = v / norms.unsqueeze(-1)
    sim = unit @ unit.transpose(1, 2)  # (B, k, k)
    off_diagonal = sim.sum((1, 2)) - sim.diagonal(dim1=1, dim2=2).sum(1)
    values = 1.0 - off_diagonal / (k * (k - 1))
    if single:
        return values.item()
    return _reduce(values, reduction)


def coverage(recommended: torch.Tensor, num_items: int) -> float:
    r"""Catalogue coverage: the share of items recommended at least once.

    $$\mathrm{Coverage} = \frac{\big|\bigcup_u L_u\big|}{|I|}$$

    Args:
        recommended: integer item ids of any shape, e.g. ``(U, k)`` top-k lists; each in
            ``[0, num_items)``.
        num_items: size of the catalogue ``|I|``.

    Example:
        >>> coverage(torch.tensor([[0, 1], [1, 2], [2, 0]]), num_items=6)
        0.5
    """
    if isinstance(num_items, bool) or not isinstance(num_items, int) or num_items < 1:
        raise ValueError(f"num_items must be an integer >= 1, got {num_items!r}")
    ids = _tensor("recommended", recommended)
    if ids.dtype.is_floating_point or ids.dtype == torch.bool or ids.is_complex():
        raise ValueError(f"recommended must hold integer item ids, got dtype {ids.dtype}")
    if (ids < 0).any() or (ids >= num_items).any():
        raise ValueError(f"recommended ids must be in [0, {num_items})")
    return torch.unique(ids).numel() / num_items
