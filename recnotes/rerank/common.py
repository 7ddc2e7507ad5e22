"""What every re-ranker shares: the check of its inputs and the unit vectors of cosine similarity.

A re-ranker follows one contract (DESIGN.md): ``rerank(scores (N,), item_vectors (N, D), k)``
returns ``order`` ``(k,)``, a LongTensor of indices into the ``N`` candidates in pick order. The
candidates are the handful that ranking scored (tens to a few thousand), not the catalogue.

Shape legend: ``N`` candidates, ``D`` item-vector width, ``k`` items to pick.
"""

from __future__ import annotations

import torch

__all__ = ["check_candidates", "unit_vectors"]


# --8<-- [start:check]
def check_candidates(
    scores: torch.Tensor, item_vectors: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Check a re-ranker's inputs and return them as floating tensors of one dtype.

    Args:
        scores: ``(N,)`` relevance scores from ranking (logits or probabilities), all finite.
        item_vectors: ``(N, D)`` one vector per candidate, all finite.
        k: how many items to pick, ``1 <= k <= N``.

    Returns:
        ``(scores, item_vectors)`` in float64 if either input is float64, else float32.

    Raises:
        ValueError: a sentence naming the argument: no candidates, shapes that disagree, ``k`` out
            of range, a non-finite score or vector entry.

    Example:
        >>> s, v = check_candidates(torch.tensor([0.3, 0.1]), torch.eye(2), k=2)
        >>> s.dtype, tuple(v.shape)
        (torch.float32, (2, 2))
        >>> check_candidates(torch.tensor([0.3, 0.1]), torch.eye(2), k=3)
        Traceback (most recent call last):
        ...
        ValueError: k must be at most the number of candidates (2), got 3
    """
    if not isinstance(scores, torch.Tensor) or not isinstance(item_vectors, torch.Tensor):
        raise ValueError("scores and item_vectors must be torch tensors")
    if scores.dim() != 1:
        raise ValueError(
            f"scores must be 1-D (one score per candidate), got shape {tuple(scores.shape)}"
        )
    if item_vectors.dim() != 2:
        raise ValueError(
            f"item_vectors must be 2-D (one vector per candidate), got shape {tuple(item_vectors.shape)}"
        )
    n = scores.shape[0]
    if n == 0:
        raise ValueError("the candidate list is empty: scores has no entries")
    if item_vectors.shape[0] != n:
        raise ValueError(
            f"scores has {n} entries but item_vectors has {item_vectors.shape[0]} rows; "
            "they must describe the same candidates"
        )
    if item_vectors.shape[1] == 0:
        raise ValueError("item_vectors has zero-width vectors (D = 0)")
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an integer >= 1, got {k!r}")
    if k > n:
        raise ValueError(f"k must be at most the number of candidates ({n}), got {k}")
    for name, t in (("scores", scores), ("item_vectors", item_vectors)):
        if t.dtype == torch.bool or t.is_complex():
            raise ValueError(f"{name} must be real numbers, got dtype {t.dtype}")
    dtype = torch.float64 if torch.float64 in (scores.dtype, item_vectors.dtype) else torch.float32
    scores, item_vectors = scores.to(dtype), item_vectors.to(dtype)
    if not torch.isfinite(scores).all():
        bad = torch.nonzero(~torch.isfinite(scores)).flatten()[:3].tolist()
        raise ValueError(f"scores must be finite; candidates {bad} are NaN or infinite")
    if not torch.isfinite(item_vectors).all():
        bad = torch.nonzero(~torch.isfinite(item_vectors).all(1)).flatten()[:3].tolist()
        raise ValueError(f"item_vectors must be finite; the vectors of candidates {bad} are not")
    return scores, item_vectors


# --8<-- [end:check]


def unit_vectors(item_vectors: torch.Tensor) -> torch.Tensor:
    """Rows scaled to length one, so ``U @ U.T`` is the cosine similarity; a zero row stays zero.

    A zero vector has no direction: its cosine similarity to every item is taken as 0, so it is
    neither penalised by nor penalises the items around it.

    Example:
        >>> unit_vectors(torch.tensor([[3.0, 4.0], [0.0, 0.0]], dtype=torch.float64)).tolist()
        [[0.6, 0.8], [0.0, 0.0]]
    """
    norms = item_vectors.norm(dim=1, keepdim=True)  # (N, 1)
    return item_vectors / torch.where(norms > 0, norms, torch.ones_like(norms))
