"""MMR: maximal marginal relevance, greedy re-ranking that trades an item's score against its
similarity to the items already picked.

Paper: *The Use of MMR, Diversity-Based Reranking for Reordering Documents and Producing
Summaries*, Jaime Carbonell and Jade Goldstein, SIGIR 1998, https://doi.org/10.1145/290941.291025.

Stage: re-ranking.

The idea: a list sorted by score alone repeats itself when the best candidates are near-duplicates.
MMR builds the list one item at a time and picks, at each step, the candidate with the best mix of
its own relevance and its distance to what is already on the list:
``argmax_i  lambda * s_i - (1 - lambda) * max_{j in S} sim(i, j)``. With ``lambda = 1`` it is plain
top-k by score; with ``lambda = 0`` it starts from the best item and then always takes the item least
like the list so far. A running vector of each candidate's largest similarity to the list makes a
pick cost one matrix-vector product, ``O(N D)``.

Shape legend: ``N`` candidates, ``D`` item-vector width, ``k`` items to pick.

Differences from the paper:

* The similarity is the cosine of the item vectors, for both terms' roles; the paper leaves
  ``Sim1`` (to the query) and ``Sim2`` (between documents) open. Here the relevance ``s_i`` is the
  ranking score as given, not a similarity to a query, so its scale against the cosine (in [-1, 1])
  is the caller's choice: standardise the scores if ``lambda`` should mean the same across users.
* Ties are broken explicitly (MMR value, then score, then the lower index), so the order is
  deterministic; the paper does not discuss ties.
* A zero item vector has cosine similarity 0 to every item (the paper has no such case).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from recnotes.rerank.common import check_candidates, unit_vectors

__all__ = ["MMRConfig", "mmr_rerank"]


@dataclass(frozen=True)
class MMRConfig:
    """Hyper-parameters of :func:`mmr_rerank`.

    Example:
        >>> MMRConfig(lambda_=0.7).lambda_
        0.7
        >>> MMRConfig(lambda_=1.5)
        Traceback (most recent call last):
        ...
        ValueError: lambda_ must be between 0 and 1 (1 = scores only, 0 = diversity only), got 1.5
    """

    lambda_: float = 0.5  # recnotes default, the middle of the trade-off; the paper leaves it open

    def __post_init__(self) -> None:
        if not (isinstance(self.lambda_, (int, float)) and math.isfinite(self.lambda_)):
            raise ValueError(f"lambda_ must be a finite number, got {self.lambda_!r}")
        if not 0.0 <= self.lambda_ <= 1.0:
            raise ValueError(
                "lambda_ must be between 0 and 1 (1 = scores only, 0 = diversity only), "
                f"got {self.lambda_}"
            )


def _best(values: torch.Tensor, scores: torch.Tensor) -> int:
    """The argmax of ``values``; among exact ties the higher score, then the lower index."""
    tied = values == values.max()
    return int(torch.where(tied, scores, -math.inf).argmax())  # argmax keeps the first of equals


# --8<-- [start:mmr]
def mmr_rerank(
    scores: torch.Tensor, item_vectors: torch.Tensor, k: int, config: MMRConfig = MMRConfig()
) -> torch.Tensor:
    """Pick ``k`` of ``N`` candidates by maximal marginal relevance (Eq. 1).

    Args:
        scores: ``(N,)`` relevance scores from ranking, all finite.
        item_vectors: ``(N, D)`` the candidates' vectors; their cosine is the similarity (Eq. 2).
        k: list length, ``1 <= k <= N``.
        config: the trade-off ``lambda_`` (:class:`MMRConfig`).

    Shapes:
        * ``scores``: ``(N,)``; ``item_vectors``: ``(N, D)``; returns ``(k,)``.

    Returns:
        ``order``: LongTensor of ``k`` distinct indices into the candidates, in pick order. Exact
        ties go to the higher score, then the lower index; so ``lambda_ = 1`` returns the stable
        descending sort of the scores, cut at ``k``.

    Raises:
        ValueError: a sentence naming the argument: no candidates, ``k`` out of range, lengths
            that disagree, a non-finite score.

    Example:
        >>> scores = torch.tensor([0.9, 0.8, 0.3])
        >>> vectors = torch.tensor([[1.0, 0.0], [0.99, 0.1], [0.0, 1.0]])  # 0 and 1: near twins
        >>> mmr_rerank(scores, vectors, k=2, config=MMRConfig(lambda_=1.0)).tolist()
        [0, 1]
        >>> mmr_rerank(scores, vectors, k=2, config=MMRConfig(lambda_=0.5)).tolist()
        [0, 2]
    """
    scores, item_vectors = check_candidates(scores, item_vectors, k)
    lam = config.lambda_
    unit = unit_vectors(item_vectors)  # (N, D): unit @ unit.T is the cosine, Eq. (2)
    redundancy = torch.zeros_like(scores)  # (N,) max_{j in S} sim(i, j); 0 while S is empty
    picked = torch.zeros_like(scores, dtype=torch.bool)  # (N,)
    order = torch.empty(k, dtype=torch.long)
    for step in range(k):
        value = lam * scores - (1.0 - lam) * redundancy  # Eq. (1), (N,)
        value = value.masked_fill(picked, -math.inf)  # an item is picked once
        j = _best(value, scores)
        order[step], picked[j] = j, True
        sim = unit @ unit[j]  # (N,): one (N, D) @ (D,) product per pick
        # a max over S, which may be negative: the first pick's similarity, not max(0, sim)
        redundancy = sim if step == 0 else torch.maximum(redundancy, sim)
    return order


# --8<-- [end:mmr]
