"""DPP: re-ranking by the greedy MAP of a determinantal point process, with the fast incremental
Cholesky update and its sliding-window variant.

Paper: *Fast Greedy MAP Inference for Determinantal Point Process to Improve Recommendation
Diversity*, Laming Chen, Guoxin Zhang and Hanning Zhou, NeurIPS 2018,
https://arxiv.org/abs/1709.05135.

Stage: re-ranking.

The idea: a DPP scores a set ``Y`` of items by ``det(L_Y)``, the squared volume spanned by their
kernel vectors; with ``L = Diag(r) S Diag(r)`` that volume grows with each item's relevance ``r``
and shrinks when items point the same way in the similarity ``S``. Greedy MAP adds, at each step,
the item that raises ``log det(L_Y)`` most. The paper's insight is that this gain is ``log d_i^2``,
the squared last diagonal entry of the Cholesky factor of ``L_{Y + i}``, and that every candidate's
``d_i^2`` can be updated after a pick with one row of ``L`` and one product with the factor rows
picked so far: ``O(N k)`` per pick instead of a determinant per candidate (Algorithm 1). With a
window ``w`` only the last ``w - 1`` picks repel the next one, which suits long feeds (Algorithm 2).

Shape legend: ``N`` candidates, ``D`` item-vector width, ``k`` items to pick, ``w`` window.

Differences from the paper:

* The similarity is ``S = U U^T`` with ``U`` the item vectors scaled to unit length (the cosine),
  which is positive semi-definite by construction; a zero vector gets ``S_ii = 1`` and no
  similarity to any other item (it is orthogonal to everything), which keeps ``S`` PSD.
* The relevance is ``r_i = exp(alpha * (s_i - max_j s_j))`` with ``alpha = theta / (2 (1 - theta))``.
  The paper uses ``exp(alpha * s_i)``; shifting every score by the same constant scales ``L`` by a
  constant, which changes no pick, and keeps ``r <= 1`` so that large scores cannot overflow.
* Stopping: a candidate whose gain is a tiny share of its own kernel entry, ``d_i^2 <= epsilon *
  L_ii`` (its vector lies, numerically, in the span of the picks), is not picked, and the search
  stops when no other candidate is left; the order returned is then **shorter than k**. The paper
  stops when the absolute gain ``d_j^2`` falls below ``epsilon``; with ``r = exp(alpha s)`` that
  threshold would also cut off relevant items whose ``r`` is merely small, so recnotes measures
  the gain relative to ``L_ii``. With ``D``-wide vectors the full algorithm picks at most ``D``
  items; the sliding window (``window <= D``) has no such limit.
* The re-ranker works in float64 whatever the input dtype: the gains ``d_i^2 = r_i^2 sin^2(...)``
  span many decades (``r_i^2 = exp(2 alpha (s_i - max s))``), and float32 rounding (about 1e-7)
  would pass for a real gain once the picks span the vectors' space.
* Candidates tied on the gain go to the higher score, then the lower index (first step of
  ``theta = 0``, where every ``d_i^2 = 1``); the paper does not discuss ties.
* The window drops the oldest pick by Givens rotations of the Cholesky factor, the same update as
  Algorithm 2 written in a form that does not divide by the factor's diagonal.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from recnotes.rerank.common import check_candidates, unit_vectors

__all__ = [
    "DPPConfig",
    "dpp_rerank",
    "relevance",
    "dpp_kernel",
    "dpp_greedy_map",
    "naive_greedy_logdet",
]


@dataclass(frozen=True)
class DPPConfig:
    """Hyper-parameters of :func:`dpp_rerank`.

    Example:
        >>> DPPConfig(theta=0.7, window=10).window
        10
        >>> DPPConfig(theta=1.0)
        Traceback (most recent call last):
        ...
        ValueError: theta must be in [0, 1) (0 = diversity only; 1 would ignore diversity and divide by zero), got 1.0
    """

    theta: float = (
        0.5  # relevance weight in [0, 1); recnotes default, the paper tunes it per dataset
    )
    window: int | None = (
        None  # None: every pick repels (Algorithm 1); w: the last w - 1 (Algorithm 2)
    )
    epsilon: float = (
        1e-10  # skip i when d_i^2 <= epsilon L_ii (in the picks' span); numerical guard
    )

    def __post_init__(self) -> None:
        if not (isinstance(self.theta, (int, float)) and 0.0 <= self.theta < 1.0):
            raise ValueError(
                "theta must be in [0, 1) (0 = diversity only; 1 would ignore diversity and divide "
                f"by zero), got {self.theta!r}"
            )
        if self.window is not None and (
            isinstance(self.window, bool) or not isinstance(self.window, int) or self.window < 1
        ):
            raise ValueError(f"window must be None or an integer >= 1, got {self.window!r}")
        if not (isinstance(self.epsilon, (int, float)) and 0.0 <= self.epsilon < math.inf):
            raise ValueError(f"epsilon must be a finite number >= 0, got {self.epsilon!r}")

    @property
    def alpha(self) -> float:
        """Eq. (4): ``alpha = theta / (2 (1 - theta))``, the exponent of the relevance."""
        return self.theta / (2.0 * (1.0 - self.theta))


def relevance(scores: torch.Tensor, alpha: float) -> torch.Tensor:
    """Eq. (4): ``r_i = exp(alpha (s_i - max s))``, in (0, 1], ``(N,)``."""
    return torch.exp(alpha * (scores - scores.max()))


def dpp_kernel(scores: torch.Tensor, item_vectors: torch.Tensor, theta: float) -> torch.Tensor:
    """Eq. (3): the explicit kernel ``L = Diag(r) S Diag(r)``, ``(N, N)``. For tests and small N.

    Example:
        >>> L = dpp_kernel(torch.tensor([1.0, 0.0]), torch.eye(2), theta=0.5)
        >>> bool(L[0, 0] == 1.0), bool(L[1, 1] < 1.0), bool(L[0, 1] == 0.0)
        (True, True, True)
    """
    alpha = DPPConfig(theta=theta).alpha
    r = relevance(scores, alpha)
    unit = unit_vectors(item_vectors)
    sim = unit @ unit.T  # (N, N) cosine
    sim.fill_diagonal_(1.0)  # exactly 1 (not 1 +- rounding); a zero vector: orthogonal to the rest
    return r[:, None] * sim * r[None, :]


def _pick(gain: torch.Tensor, priority: torch.Tensor | None) -> int:
    """Eq. (6): the candidate with the largest gain ``d_i^2``; ties by ``priority``, then index."""
    if priority is None:
        return int(gain.argmax())  # argmax keeps the first of equals
    tied = gain == gain.max()
    return int(torch.where(tied, priority, -math.inf).argmax())


# --8<-- [start:greedy]
def _greedy_map(
    kernel_row: Callable[[int], torch.Tensor],
    diagonal: torch.Tensor,
    k: int,
    window: int | None,
    epsilon: float,
    priority: torch.Tensor | None = None,
) -> torch.Tensor:
    """Algorithms 1 and 2: greedy MAP with the incremental Cholesky update, ``O(N k)`` per pick."""
    n = diagonal.shape[0]
    rows = k if window is None else min(window, k)
    d2 = diagonal.clone()  # (N,) d_i^2 = L_ii - ||c_i||^2, Eq. (5)
    c = diagonal.new_zeros(rows, n)  # c[:, i] = c_i, one row per pick in the window
    factor = diagonal.new_zeros(rows, rows)  # Cholesky factor V of L_Y (the window's picks)
    picked = torch.zeros(n, dtype=torch.bool)
    order: list[int] = []
    m = 0  # picks in the window
    while True:
        # a candidate (numerically) in the span of the picks adds no volume: d_i^2 <= eps L_ii
        alive = (d2 > epsilon * diagonal) & ~picked
        if not alive.any():
            break
        j = _pick(d2.masked_fill(~alive, -math.inf), priority)  # Eq. (6)
        order.append(j)
        picked[j] = True
        if len(order) == k:
            break
        d_j, c_j = d2[j].sqrt(), c[:m, j].clone()
        e = (kernel_row(j) - c_j @ c[:m]) / d_j  # Eq. (7), (N,)
        c[m], factor[m, :m], factor[m, m] = e, c_j, d_j  # c_i <- [c_i, e_i]; V grows by a row
        d2 = d2 - e * e  # Eq. (8)
        m += 1
        if window is not None and m == window:  # Algorithm 2: the oldest pick leaves the window
            d2 = d2 + _drop_oldest(factor, c, m)
            m -= 1
    return torch.tensor(order, dtype=torch.long)


# --8<-- [end:greedy]


# --8<-- [start:window]
def _drop_oldest(factor: torch.Tensor, c: torch.Tensor, m: int) -> torch.Tensor:
    """Algorithm 2: remove the first pick from ``V`` and every ``c_i`` (in place); return ``a_i^2``.

    Without the first pick, ``V[1:, 1:] V[1:, 1:]^T + v v^T`` (``v = V[1:, 0]``) is the new
    ``L_Y``. Givens rotations fold ``v`` back into a triangular factor; the same rotations fold
    each ``c_{i,0}`` into the rest of ``c_i``, and what they leave over, ``a_i``, is the length
    that ``c_i`` loses, so ``d_i^2`` grows by ``a_i^2``.
    """
    v = factor[1:m, 0].clone()  # (m-1,)
    a = c[0].clone()  # (N,)
    factor[: m - 1, : m - 1] = factor[1:m, 1:m].clone()
    c[: m - 1] = c[1:m].clone()
    factor[m - 1].zero_()
    factor[:, m - 1].zero_()
    c[m - 1].zero_()
    for col in range(m - 1):  # a loop over window positions; each step is vectorised over N
        diag, tail = float(factor[col, col]), float(v[col])
        t = math.hypot(diag, tail)
        cos, sin = diag / t, tail / t
        below = factor[col : m - 1, col].clone()
        factor[col : m - 1, col].mul_(cos).add_(v[col:], alpha=sin)
        v[col:].mul_(cos).sub_(below, alpha=sin)
        row = c[col].clone()
        c[col].mul_(cos).add_(a, alpha=sin)  # c_i: the same rotation, for every candidate
        a.mul_(cos).sub_(row, alpha=sin)
    return a * a


# --8<-- [end:window]


def dpp_greedy_map(
    kernel: torch.Tensor, k: int, *, window: int | None = None, epsilon: float = 1e-10
) -> torch.Tensor:
    """Fast greedy MAP on an explicit PSD kernel ``L`` ``(N, N)`` (Algorithms 1 and 2).

    Args:
        kernel: ``(N, N)`` symmetric positive semi-definite kernel.
        k: the most items to pick, ``1 <= k <= N``.
        window: None for the whole list (Algorithm 1), or ``w``: only the last ``w - 1`` picks
            repel the next one (Algorithm 2).
        epsilon: a candidate with ``d_i^2 <= epsilon * L_ii`` is not picked; the search stops
            when none other is left. Pass a float64 kernel: float32 rounding leaves relative gains
            of about 1e-7 where the exact ones are zero.

    Returns:
        LongTensor of at most ``k`` distinct indices in pick order (fewer when the gain runs out).
        Ties go to the lower index.

    Example:
        >>> L = torch.tensor([[2.0, 1.9, 0.0], [1.9, 2.0, 0.0], [0.0, 0.0, 1.0]])
        >>> dpp_greedy_map(L, 2).tolist()  # 1 nearly repeats 0, so 2 comes second
        [0, 2]
    """
    if kernel.dim() != 2 or kernel.shape[0] != kernel.shape[1] or kernel.shape[0] == 0:
        raise ValueError(
            f"kernel must be a non-empty square matrix, got shape {tuple(kernel.shape)}"
        )
    n = kernel.shape[0]
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= n:
        raise ValueError(f"k must be an integer between 1 and the number of items ({n}), got {k!r}")
    kernel = kernel if kernel.dtype.is_floating_point else kernel.float()
    if not torch.isfinite(kernel).all():
        raise ValueError("kernel must be finite; it holds NaN or infinite entries")
    DPPConfig(window=window, epsilon=epsilon)  # the same checks as the re-ranker's options
    return _greedy_map(lambda j: kernel[j], kernel.diagonal().clone(), k, window, epsilon)


# --8<-- [start:rerank]
def dpp_rerank(
    scores: torch.Tensor, item_vectors: torch.Tensor, k: int, config: DPPConfig = DPPConfig()
) -> torch.Tensor:
    """Pick up to ``k`` of ``N`` candidates by fast greedy DPP MAP on ``L = Diag(r) S Diag(r)``.

    The kernel is never built: its row ``j`` is ``r_j r (U u_j)``, one matrix-vector product.

    Args:
        scores: ``(N,)`` relevance scores from ranking, all finite.
        item_vectors: ``(N, D)`` the candidates' vectors; their cosine is ``S``.
        k: the most items to pick, ``1 <= k <= N``.
        config: ``theta``, ``window`` and ``epsilon`` (:class:`DPPConfig`).

    Shapes:
        * ``scores``: ``(N,)``; ``item_vectors``: ``(N, D)``; returns ``(k,)`` or shorter.

    Returns:
        ``order``: LongTensor of distinct indices into the candidates, in pick order. It is
        shorter than ``k`` when every remaining candidate lies in the span of the picks
        (``d_i^2 <= epsilon L_ii``): with ``window=None`` that happens after at most ``D`` picks,
        since ``S`` has rank ``D``.

    Raises:
        ValueError: a sentence naming the argument: no candidates, ``k`` out of range, lengths
            that disagree, a non-finite score.

    Example:
        >>> scores = torch.tensor([0.9, 0.8, 0.3])
        >>> vectors = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]])  # 0 and 1: near twins
        >>> dpp_rerank(scores, vectors, k=2).tolist()
        [0, 2]
        >>> same = torch.tensor([[1.0, 0.0], [2.0, 0.0]])  # one direction: the second adds no volume
        >>> dpp_rerank(torch.tensor([0.9, 0.5]), same, k=2).tolist()  # so the order stops short
        [0]
    """
    scores, item_vectors = check_candidates(scores, item_vectors, k)
    scores, item_vectors = scores.double(), item_vectors.double()  # gains span many decades
    r = relevance(scores, config.alpha)  # Eq. (4), (N,)
    unit = unit_vectors(item_vectors)  # (N, D)

    def kernel_row(j: int) -> torch.Tensor:
        s_j = unit @ unit[j]  # (N,) row j of S = U U^T
        s_j[j] = 1.0  # S_jj = 1, also for a zero vector (orthogonal to everything else)
        return r[j] * r * s_j  # Eq. (3): L_j = r_j r S_j

    diagonal = r * r  # L_ii = r_i^2 S_ii with S_ii = 1
    return _greedy_map(kernel_row, diagonal, k, config.window, config.epsilon, priority=scores)


# --8<-- [end:rerank]


def naive_greedy_logdet(
    kernel: torch.Tensor, k: int, *, window: int | None = None, epsilon: float = 1e-10
) -> torch.Tensor:
    """Greedy log-det maximisation by brute force: the reference for tests, slow (``O(N k^4)``).

    At each step, for every candidate ``i``, it computes ``det(L_{W + i}) / det(L_W)`` with
    ``torch.linalg.slogdet`` (``W`` = all picks, or the last ``window - 1``) and takes the largest;
    it skips and stops on the same rule as :func:`dpp_greedy_map` (``gain <= epsilon * L_ii``).
    Ties go to the lower index.

    Example:
        >>> L = torch.tensor([[2.0, 1.9, 0.0], [1.9, 2.0, 0.0], [0.0, 0.0, 1.0]], dtype=torch.float64)
        >>> naive_greedy_logdet(L, 2).tolist()
        [0, 2]
    """
    n = kernel.shape[0]
    order: list[int] = []
    while len(order) < k:
        start = 0 if window is None else max(0, len(order) - (window - 1))
        context = order[start:] if window is None or window > 1 else []  # the picks that repel
        base = torch.linalg.slogdet(kernel[context][:, context]).logabsdet if context else 0.0
        best, best_gain = -1, -math.inf
        for i in range(n):
            if i in order:
                continue
            idx = [*context, i]
            sign, logdet = torch.linalg.slogdet(kernel[idx][:, idx])
            gain = math.exp(float(logdet - base)) if sign > 0 else 0.0  # det(L_{W+i}) / det(L_W)
            if gain > epsilon * float(kernel[i, i]) and gain > best_gain:
                best, best_gain = i, gain
        if best < 0:
            break
        order.append(best)
    return torch.tensor(order, dtype=torch.long)
