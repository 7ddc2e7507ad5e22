"""The recommendation funnel: recall -> pre-rank -> rank -> re-rank, trained and served as one.

A :class:`Pipeline` composes registered models; it adds no model of its own:

1. **Recall** — one or more retrievers (DSSM by default; any model with ``user_embedding`` and
   ``item_embedding``) each return the ``topk_recall`` best unseen items of the catalogue by inner
   product ([`build_index`][recnotes.index.build_index]). Several retrievers are merged rank by rank
   (:func:`merge_candidates`).
2. **Pre-rank** — [`PreRankMLP`][recnotes.prerank.PreRankMLP] scores every recall candidate from
   the primary retriever's user vector, the candidate's item vector and their inner product (the
   recall score), and keeps the ``topk_prerank`` best.
3. **Rank** — a ranking model (Embedding&MLP by default, any ``family="ranking"`` model) scores the
   survivors from the raw user and item features (ids, gender, age, occupation, genres on
   MovieLens-1M).
4. **Re-rank** — MMR (relevance: the ranker's logits standardised over the user's candidates) or DPP
   (relevance: the logits) picks ``topk_final`` items, with the primary retriever's item vectors as
   the similarity. ILD is measured with the same vectors.

Training (:func:`train_pipeline`) runs the stages in order on ``RetrievalData.train``: each
retriever with its own loss and early stopping on validation NDCG@10 (full ranking); then the
pre-ranker and the ranker on implicit feedback, **positives** = training interactions (a seeded
sample of at most ``max_rank_rows``), **negatives** per positive = ``negatives`` items drawn
uniformly from the items that user has not interacted with in training, plus ``hard_negatives``
items drawn from that training row's own recall list (the primary retriever's top-``topk_recall``
for the history at that interaction, the user's training items removed). The hard ones teach what
serving asks (which of recall's candidates is best); the uniform ones keep the catalogue-wide
sense that recall's lists all share. A user's later held-out items can be drawn as hard negatives;
that is the false-negative noise any sampled negative carries. Both models are early-stopped on the
AUC over validation users' recall candidates (the validation item is the positive).

Serving and stage metrics use a held-out split's view of each user: the history up to the held-out
item, with every earlier item excluded from recall (:func:`evaluate_pipeline`). Bad input is a
:class:`PipelineError` (or :class:`UnknownUserError`) with a sentence that names the problem.

Shape legend: ``U`` users, ``N`` catalogue rows (row 0 is padding), ``D`` retriever vector width,
``K`` recall candidates, ``M`` pre-rank survivors, ``k`` final list length.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from recnotes import metrics as M
from recnotes.data import Feature, FeatureTable, Schema
from recnotes.data.retrieval import HeldOut, RetrievalData
from recnotes.data.sampling import SeenItems, UniformNegativeSampler
from recnotes.evaluate import as_csr, full_ranking
from recnotes.index import Index, build_index
from recnotes.prerank import PreRankMLP, PreRankMLPConfig, prerank_schema
from recnotes.rerank import DPPConfig, MMRConfig, dpp_rerank, mmr_rerank

__all__ = [
    "PipelineError",
    "UnknownUserError",
    "PipelineConfig",
    "StageOutput",
    "Recommendation",
    "Pipeline",
    "train_pipeline",
    "load_pipeline",
    "evaluate_pipeline",
    "rerank_sweep",
    "merge_candidates",
    "quick_config",
    "ml1m_config",
    "run_funnel",
    "ranker_features",
    "dataset_for",
    "RERANKERS",
]

RERANKERS: tuple[str, ...] = ("mmr", "dpp")
"""The re-rankers the pipeline knows."""
_RETRIEVER_FAMILIES = ("recall", "sequential")


class PipelineError(ValueError):
    """Bad input to the pipeline: the message says what is wrong and what is allowed."""


class UnknownUserError(PipelineError):
    """The user id is not one of the pipeline's users."""


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise PipelineError(f"{name} must be an integer, got {value!r}")
    if value < low or (high is not None and value > high):
        bound = f"between {low} and {high}" if high is not None else f">= {low}"
        raise PipelineError(f"{name} must be {bound}, got {value}")
    return int(value)


@dataclass(frozen=True)
class PipelineConfig:
    """How the funnel is built, trained and cut.

    Example:
        >>> PipelineConfig(topk_recall=100).topk_final
        20
        >>> PipelineConfig(topk_final=300)
        Traceback (most recent call last):
        ...
        recnotes.pipeline.PipelineError: the funnel must narrow: topk_recall (200) >= topk_prerank (100) >= topk_final (300) >= 1
    """

    retrievers: tuple[str, ...] = ("dssm",)  # the issue: DSSM by default; the first is primary
    retriever_config: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # per name
    ranker: str = "embedding-mlp"  # the issue: Embedding&MLP or DeepFM
    ranker_config: Mapping[str, Any] = field(
        default_factory=lambda: {"embed_dim": 16, "hidden": (128, 64)}  # recnotes: CPU-sized
    )
    ranker_features: tuple[str, ...] | None = (
        None  # None: every sparse/sequence feature, the history (pooled) included
    )
    prerank_config: Mapping[str, Any] = field(default_factory=dict)  # PreRankMLPConfig fields
    topk_recall: int = 200  # the issue: 200 candidates from recall
    topk_prerank: int = 100  # recnotes: pre-rank halves the list
    topk_final: int = 20  # the issue: 20 items shown
    reranker: str = "mmr"  # "mmr" or "dpp"
    lambda_mmr: float = 0.5  # the default trade-off
    theta_dpp: float = 0.5  # DPPConfig default
    negatives: int = 1  # uniform unseen negatives per positive for pre-rank and rank
    hard_negatives: int = 1  # negatives per positive from that row's own recall list
    max_rank_rows: int | None = (
        200_000  # positives sampled for pre-rank/rank training (CPU minutes)
    )
    valid_users: int = 2000  # validation users for pre-rank/rank early stopping
    recall_epochs: int = 10
    rank_epochs: int = 3
    batch_size: int = 1024  # retriever batches (in-batch softmax wants full ones)
    rank_batch_size: int = 2048
    lr: float = 1e-3
    patience: int = 2
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("retrievers", "ranker_features"):
            value = getattr(self, name)
            if isinstance(value, (list, str)):
                object.__setattr__(self, name, (value,) if isinstance(value, str) else tuple(value))
        if not self.retrievers:
            raise PipelineError("retrievers needs at least one registered retriever name")
        for name in ("negatives", "hard_negatives"):
            _check_int(name, getattr(self, name), 0)
        if self.negatives + self.hard_negatives < 1:
            raise PipelineError(
                "negatives + hard_negatives must be at least 1 (a positive needs a negative)"
            )
        for name in ("topk_recall", "topk_prerank", "topk_final", "recall_epochs",
                     "rank_epochs", "batch_size", "rank_batch_size", "patience", "valid_users"):  # fmt: skip
            _check_int(name, getattr(self, name), 1)
        if not self.topk_recall >= self.topk_prerank >= self.topk_final >= 1:
            raise PipelineError(
                f"the funnel must narrow: topk_recall ({self.topk_recall}) >= topk_prerank "
                f"({self.topk_prerank}) >= topk_final ({self.topk_final}) >= 1"
            )
        if self.reranker not in RERANKERS:
            raise PipelineError(f"reranker must be one of {RERANKERS}, got {self.reranker!r}")
        _check_lambda(self.lambda_mmr)
        _check_theta(self.theta_dpp)
        if self.max_rank_rows is not None:
            _check_int("max_rank_rows", self.max_rank_rows, 1)
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise PipelineError(f"lr must be a positive number, got {self.lr}")


def _check_lambda(value: Any) -> float:
    try:
        return MMRConfig(lambda_=value).lambda_
    except ValueError as err:
        raise PipelineError(f"lambda_mmr: {err}") from err


def _check_theta(value: Any) -> float:
    try:
        return DPPConfig(theta=value).theta
    except ValueError as err:
        raise PipelineError(f"theta_dpp: {err}") from err


@dataclass
class StageOutput:
    """One stage's list for one user: item ids and their scores, best first."""

    item_ids: torch.Tensor
    scores: torch.Tensor

    def __len__(self) -> int:
        return int(self.item_ids.shape[0])


@dataclass
class Recommendation:
    """What :meth:`Pipeline.recommend_for_user` returns.

    Attributes:
        user_id: the user.
        items: the final list, one dict per item in display order: ``item_id``, ``title``,
            ``recall_score``, ``prerank_score``, ``rank_score``.
        funnel: list sizes, ``{"catalogue": N - 1, "recall": K, "prerank": M, "rank": M,
            "rerank": k}``.
        recall, prerank, rank: each stage's output list (pre-rank: the ``M`` kept; rank: the same
            ``M`` re-ordered by the ranker).
    """

    user_id: int
    items: list[dict[str, Any]]
    funnel: dict[str, int]
    recall: StageOutput
    prerank: StageOutput
    rank: StageOutput


# --------------------------------------------------------------------------------------------------
# Candidates
# --------------------------------------------------------------------------------------------------


def merge_candidates(lists: Sequence[torch.Tensor], k: int) -> torch.Tensor:
    """Merge several retrievers' ranked lists rank by rank into ``k`` distinct items per user.

    Round ``r`` takes every list's ``r``-th item, in the order the lists are given, skipping items
    already taken; the merged list stops at ``k``. So each retriever's best items come first, and no
    retriever's score scale has to be compared with another's.

    Args:
        lists: ``(U, K_i)`` item ids per retriever, each row best first and without repeats.
        k: merged length; at most the number of distinct ids of the shortest row.

    Returns:
        ``(U, k)`` LongTensor.

    Example:
        >>> a = torch.tensor([[5, 3, 1]])
        >>> b = torch.tensor([[3, 7, 1]])
        >>> merge_candidates([a, b], 4).tolist()
        [[5, 3, 7, 1]]
    """
    if not lists:
        raise PipelineError("merge_candidates needs at least one list")
    if len(lists) == 1:
        return lists[0][:, :k]
    users = lists[0].shape[0]
    interleaved = torch.stack(list(lists), dim=2).reshape(users, -1)  # (U, K * R): rank by rank
    out = torch.empty(users, k, dtype=torch.long)
    for row in range(users):  # U small in serving; a vectorised unique keeps first occurrences
        ids = interleaved[row]
        uniq, inverse = torch.unique(ids, return_inverse=True)
        first = torch.full((uniq.shape[0],), ids.shape[0], dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(ids.shape[0]), reduce="amin")
        order = torch.sort(first).values
        if order.shape[0] < k:
            raise PipelineError(
                f"the merged lists hold {order.shape[0]} distinct items, fewer than k={k}"
            )
        out[row] = ids[order[:k]]
    return out


@dataclass
class _View:
    """A held-out split as the pipeline serves it: users' features, rows by id, exclusions."""

    users: dict[str, torch.Tensor]
    user_ids: torch.Tensor
    targets: torch.Tensor
    exclude: tuple[torch.Tensor, torch.Tensor]  # CSR of seen items plus the padding id 0
    row_of: dict[int, int]

    @classmethod
    def of(cls, split: HeldOut, num_items: int) -> _View:
        indptr, indices = as_csr(split.seen, len(split), num_items)
        counts = indptr[1:] - indptr[:-1] + 1
        new_ptr = torch.zeros_like(indptr)
        new_ptr[1:] = torch.cumsum(counts, 0)
        new_idx = torch.zeros(int(new_ptr[-1]), dtype=torch.long)  # slot 0 of each row: padding
        rows = torch.repeat_interleave(torch.arange(len(split)), counts - 1)
        local = torch.arange(indices.shape[0]) - indptr[:-1][rows]
        new_idx[new_ptr[:-1][rows] + 1 + local] = indices
        row_of = {int(u): i for i, u in enumerate(split.user_ids.tolist())}
        return cls(split.users, split.user_ids, split.targets, (new_ptr, new_idx), row_of)

    def rows_for(self, user_ids: Sequence[int] | torch.Tensor) -> torch.Tensor:
        out = []
        for u in torch.as_tensor(user_ids).reshape(-1).tolist():
            if u not in self.row_of:
                known = f"{min(self.row_of)}..{max(self.row_of)}" if self.row_of else "none"
                raise UnknownUserError(
                    f"unknown user {u}: the pipeline knows {len(self.row_of)} users (ids {known})"
                )
            out.append(self.row_of[u])
        return torch.tensor(out, dtype=torch.long)

    def exclude_rows(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        indptr, indices = self.exclude
        starts, ends = indptr[rows], indptr[rows + 1]
        counts = ends - starts
        new_ptr = torch.zeros(rows.shape[0] + 1, dtype=torch.long)
        new_ptr[1:] = torch.cumsum(counts, 0)
        owner = torch.repeat_interleave(torch.arange(rows.shape[0]), counts)
        pos = starts[owner] + torch.arange(int(new_ptr[-1])) - new_ptr[:-1][owner]
        return new_ptr, indices[pos]

    def user_batch(self, rows: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: v[rows] for k, v in self.users.items()}


def _pair_user_vectors(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """The user vector each (user, item) pair uses: ``(.., D)``; for ``K`` interests the one that
    scores the item highest. ``users`` ``(B, D)`` or ``(B, I, D)``, ``items`` ``(B, C, D)``."""
    if users.dim() == 2:
        return users[:, None, :].expand_as(items)
    best = torch.einsum("bid,bcd->bci", users, items).argmax(-1)  # (B, C)
    return torch.gather(users, 1, best[..., None].expand(-1, -1, users.shape[-1]))


# --------------------------------------------------------------------------------------------------
# The pipeline
# --------------------------------------------------------------------------------------------------


class Pipeline:
    """Trained stages plus the data they serve; build with :func:`train_pipeline` or
    :func:`load_pipeline`.

    Args:
        data: the dataset the stages were trained on (its ``items``, ``titles`` and held-out splits
            are what the pipeline serves).
        retrievers: ``name -> model``; the first is primary (its vectors feed pre-rank and
            re-rank).
        prerank: the pre-ranker over the primary retriever's vectors.
        ranker: the ranking model over :attr:`ranker_features`.
        config: the :class:`PipelineConfig` (its ``topk_*`` and re-ranker are the defaults of
            :meth:`recommend_for_user`).
    """

    def __init__(
        self,
        data: RetrievalData,
        retrievers: Mapping[str, nn.Module],
        prerank: nn.Module | None,
        ranker: nn.Module | None,
        config: PipelineConfig,
    ) -> None:
        self.data, self.config = data, config
        self.retrievers = dict(retrievers)
        self.prerank, self.ranker = prerank, ranker
        self.ranker_features = ranker_features(data.schema, config.ranker_features)
        for model in self.retrievers.values():
            _trust_inputs(model.eval())
        with torch.no_grad():
            self.item_vectors = {
                n: m.item_embedding(dict(data.items)) for n, m in self.retrievers.items()
            }
        self.indexes: dict[str, Index] = {
            n: build_index(v, kind="exact") for n, v in self.item_vectors.items()
        }
        self._views: dict[str, _View] = {}

    @property
    def primary(self) -> str:
        """The name of the primary retriever."""
        return next(iter(self.retrievers))

    @property
    def num_items(self) -> int:
        """Catalogue rows including the padding row 0."""
        return self.data.num_items

    def view(self, split: str = "test") -> _View:
        if split not in ("valid", "test"):
            raise PipelineError(f"split must be 'valid' or 'test', got {split!r}")
        if split not in self._views:
            self._views[split] = _View.of(getattr(self.data, split), self.num_items)
        return self._views[split]

    def eval(self) -> Pipeline:
        """Every model in eval mode, and no per-batch schema check (see :func:`_trust_inputs`)."""
        for m in [*self.retrievers.values(), self.prerank, self.ranker]:
            if m is not None:
                _trust_inputs(m.eval())
        return self

    # -- stages (batched over users) --------------------------------------------------------------
    def user_vectors(
        self, view: _View, rows: torch.Tensor, name: str | None = None
    ) -> torch.Tensor:
        """The retriever's user vectors ``(R, D)`` (or ``(R, I, D)``) of ``rows`` of a view."""
        with torch.no_grad():
            return self.retrievers[name or self.primary].user_embedding(view.user_batch(rows))

    def recall(
        self, view: _View, rows: torch.Tensor, k: int, users: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Stage 1: ``(ids (R, k), recall scores (R, k))``, each retriever's unseen top-k merged.

        ``users``: the primary retriever's user vectors of ``rows``, if already computed.
        """
        exclude = view.exclude_rows(rows)
        vectors = {self.primary: self.user_vectors(view, rows) if users is None else users}
        lists = []
        for name, index in self.indexes.items():
            if name not in vectors:
                vectors[name] = self.user_vectors(view, rows, name)
            search = index.search_multi if vectors[name].dim() == 3 else index.search
            try:
                lists.append(search(vectors[name], k, exclude)[1])
            except ValueError as err:
                raise PipelineError(f"recall of {k} items: {err}") from err
        ids = merge_candidates(lists, k)
        return ids, self.recall_scores(vectors[self.primary], ids)

    def recall_scores(self, users: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """The primary retriever's inner product of each user vector with its candidates."""
        items = self.item_vectors[self.primary][ids]  # (R, K, D)
        return (_pair_user_vectors(users, items) * items).sum(-1)

    def prerank_scores(
        self, users: torch.Tensor, ids: torch.Tensor, recall_scores: torch.Tensor
    ) -> torch.Tensor:
        """Stage 2: pre-rank logits ``(R, K)`` from the user vectors and each user's candidates."""
        _check_candidates(ids)
        items = self.item_vectors[self.primary][ids]  # (R, K, D)
        pairs = _pair_user_vectors(users, items)
        d = items.shape[-1]
        batch = {
            "user_vector": pairs.reshape(-1, d),
            "item_vector": items.reshape(-1, d),
            "recall_score": recall_scores.reshape(-1).float(),
        }
        with torch.no_grad():
            return self.prerank(batch).reshape(ids.shape)

    def rank_scores(self, view: _View, rows: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Stage 3: ranking logits ``(R, M)`` of each user's candidates, from raw features."""
        _check_candidates(ids)
        per_user = ids.shape[1]
        flat = ids.reshape(-1)
        batch = {}
        for name in self.ranker_features:
            if name.startswith("item_"):
                batch[name] = self.data.items[name][flat]
            else:
                batch[name] = view.users[name][rows].repeat_interleave(per_user, dim=0)
        with torch.no_grad():
            return self.ranker(batch).reshape(ids.shape)

    def rerank(
        self,
        scores: torch.Tensor,
        ids: torch.Tensor,
        k: int,
        reranker: str | None = None,
        lambda_mmr: float | None = None,
        theta_dpp: float | None = None,
    ) -> torch.Tensor:
        """Stage 4 for one user: positions (into ``ids``) of the ``k`` items shown, in order."""
        reranker = reranker or self.config.reranker
        if reranker not in RERANKERS:
            raise PipelineError(f"reranker must be one of {RERANKERS}, got {reranker!r}")
        if ids.numel() == 0:
            raise PipelineError("the candidate list is empty: there is nothing to re-rank")
        if k > ids.numel():
            raise PipelineError(f"topk_final ({k}) is larger than the {ids.numel()} candidates")
        vectors = self.item_vectors[self.primary][ids]
        if reranker == "mmr":
            lam = _check_lambda(self.config.lambda_mmr if lambda_mmr is None else lambda_mmr)
            relevance = (scores - scores.mean()) / scores.std().clamp_min(1e-12)
            return mmr_rerank(relevance, vectors, k, MMRConfig(lambda_=lam))
        theta = _check_theta(self.config.theta_dpp if theta_dpp is None else theta_dpp)
        order = dpp_rerank(scores, vectors, k, DPPConfig(theta=theta))
        if order.numel() < k:  # the picks span the vectors: fill with the ranker's order
            rest = torch.argsort(scores, descending=True, stable=True)
            rest = rest[~torch.isin(rest, order)]
            order = torch.cat([order, rest[: k - order.numel()]])
        return order

    # -- serving -----------------------------------------------------------------------------------
    def _sizes(self, topk_recall, topk_prerank, topk_final) -> tuple[int, int, int]:
        catalogue = self.num_items - 1
        k1 = _check_int(
            "topk_recall", self.config.topk_recall if topk_recall is None else topk_recall, 1
        )
        if k1 > catalogue:
            raise PipelineError(
                f"topk_recall ({k1}) is larger than the catalogue ({catalogue} items)"
            )
        k2 = self.config.topk_prerank if topk_prerank is None else topk_prerank
        k2 = min(_check_int("topk_prerank", k2, 1), k1)
        k3 = _check_int(
            "topk_final", self.config.topk_final if topk_final is None else topk_final, 1
        )
        if k3 > catalogue:
            raise PipelineError(
                f"topk_final ({k3}) is larger than the catalogue ({catalogue} items)"
            )
        if k3 > k2:
            raise PipelineError(
                f"topk_final ({k3}) is larger than the pre-rank survivors ({k2}); the funnel must narrow"
            )
        return k1, k2, k3

    def recommend_for_users(
        self,
        user_ids: Sequence[int] | torch.Tensor,
        topk_recall: int | None = None,
        topk_final: int | None = None,
        lambda_mmr: float | None = None,
        *,
        topk_prerank: int | None = None,
        reranker: str | None = None,
        theta_dpp: float | None = None,
        split: str = "test",
        batch_size: int = 1024,
    ) -> list[Recommendation]:
        """:meth:`recommend_for_user` for many users, each stage batched over ``batch_size`` users."""
        k1, k2, k3 = self._sizes(topk_recall, topk_prerank, topk_final)
        if lambda_mmr is not None:
            _check_lambda(lambda_mmr)
        view = self.view(split)
        rows_all = view.rows_for(user_ids)
        titles = self.data.titles
        out: list[Recommendation] = []
        for rows in rows_all.split(batch_size):
            users = self.user_vectors(view, rows)  # (R, D), or (R, I, D) for multi-interest
            ids, recall_scores = self.recall(view, rows, k1, users)  # (R, K)
            pre = self.prerank_scores(users, ids, recall_scores)  # (R, K)
            keep = torch.topk(pre, k2, dim=1).indices  # (R, M), best first
            kept_ids = ids.gather(1, keep)
            rank = self.rank_scores(view, rows, kept_ids)  # (R, M)
            for r in range(rows.shape[0]):
                order = self.rerank(rank[r], kept_ids[r], k3, reranker, lambda_mmr, theta_dpp)
                by_rank = torch.argsort(rank[r], descending=True, stable=True)
                pos = {int(i): j for j, i in enumerate(ids[r].tolist())}
                items = []
                for j in order.tolist():
                    item = int(kept_ids[r, j])
                    items.append({
                        "item_id": item,
                        "title": titles[item] if titles else "",
                        "recall_score": float(recall_scores[r, pos[item]]),
                        "prerank_score": float(pre[r, keep[r, j]]),
                        "rank_score": float(rank[r, j]),
                    })  # fmt: skip
                out.append(Recommendation(
                    user_id=int(view.user_ids[rows[r]]),
                    items=items,
                    funnel={"catalogue": self.num_items - 1, "recall": k1, "prerank": k2,
                            "rank": k2, "rerank": len(items)},
                    recall=StageOutput(ids[r], recall_scores[r]),
                    prerank=StageOutput(kept_ids[r], pre[r].gather(0, keep[r])),
                    rank=StageOutput(kept_ids[r][by_rank], rank[r][by_rank]),
                ))  # fmt: skip
        return out

    def recommend_for_user(
        self,
        user_id: int,
        topk_recall: int | None = None,
        topk_final: int | None = None,
        lambda_mmr: float | None = None,
        **options: Any,
    ) -> Recommendation:
        """The final list for one user, with titles and each stage's scores.

        The user is served as of the ``split``'s held-out item (default ``"test"``): the history
        holds everything before it, and every earlier item is excluded from recall.

        Args:
            user_id: a user id of the dataset.
            topk_recall: recall candidates (default ``config.topk_recall``, 200).
            topk_final: items returned (default ``config.topk_final``, 20).
            lambda_mmr: MMR trade-off in [0, 1] (default ``config.lambda_mmr``); 1 keeps the
                ranker's order.
            **options: ``topk_prerank``, ``reranker`` (``"mmr"`` or ``"dpp"``), ``theta_dpp``,
                ``split``.

        Returns:
            A :class:`Recommendation`.

        Raises:
            UnknownUserError: the user is not in the split.
            PipelineError: a ``k`` larger than the catalogue or than the stage before it,
                ``lambda_mmr`` outside [0, 1], an unknown re-ranker.
        """
        if isinstance(user_id, bool) or not isinstance(user_id, (int, np.integer)):
            raise UnknownUserError(f"a user id is an integer, got {user_id!r}")
        return self.recommend_for_users(
            [int(user_id)], topk_recall, topk_final, lambda_mmr, **options
        )[0]

    # -- persistence -------------------------------------------------------------------------------
    def save(self, out: str | Path, dataset: Mapping[str, Any] | None = None) -> Path:
        """Write ``pipeline.json`` and one ``.pt`` state dict per model into the folder ``out``.

        Args:
            out: the folder.
            dataset: how to rebuild the data (``{"name": "ml-1m", "max_len": 50}``); default the
                data's name and history length.
        """
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        meta = {
            "dataset": dict(dataset or {"name": self.data.name, "max_len": self.data.max_len}),
            "config": _jsonable(asdict(self.config)),
            "retrievers": {
                n: _jsonable(asdict(_model_config(m))) for n, m in self.retrievers.items()
            },
            "prerank": _jsonable(asdict(_model_config(self.prerank))),
            "ranker": _jsonable(asdict(_model_config(self.ranker))),
        }
        for name, model in self.retrievers.items():
            torch.save(model.state_dict(), out / f"retriever-{name}.pt")
        torch.save(self.prerank.state_dict(), out / "prerank.pt")
        torch.save(self.ranker.state_dict(), out / "ranker.pt")
        (out / "pipeline.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        return out


def _trust_inputs(model: nn.Module) -> nn.Module:
    """Turn off a model's per-batch schema check (``check_inputs``) for serving.

    The pipeline assembles every batch itself, from the dataset's tables (validated when they were
    built) and candidate ids that come out of the index, so the model-level check would re-validate
    what cannot be wrong and cost a third of a request. What a caller can get wrong (the user, the
    ``k``s, lambda, theta) the pipeline checks itself. The saved config keeps ``check_inputs``.
    """
    config = getattr(model, "config", None)
    if config is not None and getattr(config, "check_inputs", False):
        model._saved_config = config
        model.config = replace(config, check_inputs=False)
    return model


def _model_config(model: nn.Module) -> Any:
    return getattr(model, "_saved_config", model.config)


def _check_candidates(ids: torch.Tensor) -> None:
    if ids.dim() != 2 or ids.shape[1] == 0:
        raise PipelineError(
            f"the candidate list is empty or malformed: expected (users, candidates) ids, got shape {tuple(ids.shape)}"
        )


def _jsonable(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    return obj


def _tuples(config: Mapping[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in config.items()}


def ranker_features(schema: Schema, names: Sequence[str] | None = None) -> list[str]:
    """The ranker's inputs: ``names``, or every sparse and sequence feature, the history included.

    The history is what tells the ranker about the user's taste: without it the ranker sees the
    user's id and profile only (and on ML-1M it then scored the recall candidates worse than the
    retriever that produced them).
    """
    if names is None:
        return [f.name for f in schema if f.kind in ("sparse", "sequence")]
    missing = [n for n in names if n not in schema]
    if missing:
        raise PipelineError(
            f"ranker_features {missing} are not in the data's schema {schema.names()}"
        )
    return list(names)


# --------------------------------------------------------------------------------------------------
# Training
# --------------------------------------------------------------------------------------------------


def _build(spec_name: str, schema: Schema, overrides: Mapping[str, Any], families: tuple[str, ...]):
    from recnotes import registry

    spec = registry.get(spec_name)
    if spec.family not in families:
        raise PipelineError(
            f"{spec.display_name} is a {spec.family} model; this stage needs one of {families}"
        )
    known = {f.name for f in fields(spec.config_cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise PipelineError(f"{spec.display_name} has no config field(s) {unknown}")
    return spec.cls(schema, spec.config_cls(**_tuples(overrides)))


def _train_retriever(name: str, data: RetrievalData, config: PipelineConfig, log) -> nn.Module:
    from recnotes.train import TrainConfig, Trainer, seed_everything

    seed_everything(config.seed)
    model = _build(name, data.schema, config.retriever_config.get(name, {}), _RETRIEVER_FAMILIES)
    if hasattr(model, "set_item_counts"):
        model.set_item_counts(data.item_counts)

    def validate(m: nn.Module) -> dict[str, float]:
        items = m.item_embedding(dict(data.items))
        users = m.user_embedding(data.valid.users)
        out = full_ranking(users, items, data.valid.targets, data.valid.seen,
                           exclude_items=torch.tensor([0]), ks=(10,), metrics=("ndcg",))  # fmt: skip
        return {"ndcg@10": out["ndcg@10"]}

    train = TrainConfig(epochs=config.recall_epochs, batch_size=config.batch_size, lr=config.lr,
                        monitor="ndcg@10", patience=config.patience, seed=config.seed, device="cpu",
                        progress=False, drop_last=True)  # fmt: skip
    start = time.perf_counter()
    history = Trainer(model, train, validate_fn=validate).fit(data.train)
    best = history.epochs[history.best_epoch]
    log(f"recall: {name} trained in {time.perf_counter() - start:.0f} s, best epoch "
        f"{history.best_epoch + 1}/{len(history.epochs)}, valid ndcg@10 {best['ndcg@10']:.4f}")  # fmt: skip
    return model.eval()


def _implicit_pairs(
    pipe: Pipeline, config: PipelineConfig
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """The pre-rank and rank training pairs: positives and their negatives.

    Returns ``(rows, user_vectors, source, item_ids)``: the sampled training rows ``(P,)``, the
    primary retriever's user vector of each (history as it was at that interaction), and for every
    pair the index into ``rows`` and the item id; the first ``P`` pairs are the positives.
    """
    data = pipe.data
    train = data.train
    n = len(train)
    gen = torch.Generator().manual_seed(config.seed)
    rows = torch.arange(n)
    if config.max_rank_rows is not None and config.max_rank_rows < n:
        rows = torch.sort(torch.randperm(n, generator=gen)[: config.max_rank_rows]).values
    batch_rows = {k: v for k, v in train.columns.items() if not k.startswith("item_")}
    with torch.no_grad():
        vectors = torch.cat([
            pipe.retrievers[pipe.primary].user_embedding({k: v[c] for k, v in batch_rows.items()})
            for c in rows.split(8192)
        ])  # fmt: skip
    users = train.columns["user_ids"]
    seen = SeenItems.from_pairs(users.numpy(), train.columns["item_ids"].numpy() - 1,
                                data.num_items - 1)  # fmt: skip
    sampler = UniformNegativeSampler(data.num_items - 1, seen=seen, first_id=1, seed=config.seed)
    p = torch.arange(rows.shape[0])
    parts_src, parts_ids = [p], [train.columns["item_ids"][rows]]
    if config.negatives:
        uniform = torch.as_tensor(sampler.sample(users[rows], config.negatives))  # (P, n)
        parts_src.append(p.repeat_interleave(config.negatives))
        parts_ids.append(uniform.reshape(-1))
    if config.hard_negatives:
        hard = _hard_negatives(pipe, vectors, users[rows], seen, config, gen)  # (P, h)
        parts_src.append(p.repeat_interleave(config.hard_negatives))
        parts_ids.append(hard.reshape(-1))
    return rows, vectors, torch.cat(parts_src), torch.cat(parts_ids)


def _hard_negatives(pipe: Pipeline, vectors: torch.Tensor, users: torch.Tensor, seen: SeenItems,
                    config: PipelineConfig, gen: torch.Generator) -> torch.Tensor:  # fmt: skip
    """``(P, h)`` items drawn uniformly from each training row's own recall list: the primary
    retriever's top-``topk_recall`` for that row's user vector, without the padding id and without
    any item the user interacted with in training."""
    k = min(pipe.config.topk_recall, pipe.num_items - 1 - int(seen.counts.max()))
    index = pipe.indexes[pipe.primary]
    out = []
    for chunk in torch.arange(vectors.shape[0]).split(4096):
        u = users[chunk].numpy()
        starts, counts = seen.indptr[u], seen.counts[u]
        indptr = torch.zeros(chunk.shape[0] + 1, dtype=torch.long)
        indptr[1:] = torch.cumsum(torch.as_tensor(counts + 1), 0)
        flat = [
            np.concatenate([[0], seen.indices[s : s + c] + 1])
            for s, c in zip(starts, counts, strict=True)
        ]
        exclude = (indptr, torch.as_tensor(np.concatenate(flat)))
        search = index.search_multi if vectors.dim() == 3 else index.search
        ids = search(vectors[chunk], k, exclude)[1]  # (C, k)
        pick = torch.randint(0, k, (chunk.shape[0], config.hard_negatives), generator=gen)
        out.append(ids.gather(1, pick))
    return torch.cat(out)


def _valid_candidates(pipe: Pipeline, config: PipelineConfig):
    """Validation users' recall candidates with labels (the validation item), for early stopping."""
    view = pipe.view("valid")
    gen = torch.Generator().manual_seed(config.seed)
    rows = torch.randperm(len(view.user_ids), generator=gen)[: config.valid_users].sort().values
    users = pipe.user_vectors(view, rows)
    ids, scores = pipe.recall(view, rows, min(config.topk_recall, pipe.num_items - 1), users)
    labels = (ids == view.targets[rows][:, None]).float()
    return view, rows, users, ids, scores, labels


def _pooled_auc(labels: torch.Tensor, logits: torch.Tensor) -> dict[str, float]:
    y, s = labels.reshape(-1), logits.reshape(-1).float()
    if y.sum() == 0 or y.sum() == y.numel():
        return {}
    return {"auc": M.auc(y, s)}


def train_pipeline(
    data: RetrievalData,
    config: PipelineConfig = PipelineConfig(),
    *,
    retrievers: Mapping[str, nn.Module] | None = None,
    log: Callable[[str], None] = print,
) -> Pipeline:
    """Train every stage in funnel order on ``data.train``; select each with ``data.valid``.

    Args:
        data: a [`RetrievalData`][recnotes.data.retrieval.RetrievalData]
            (``retrieval_movielens_1m()``, or ``retrieval_synthetic()`` for a run in seconds).
        config: the :class:`PipelineConfig`.
        retrievers: already trained retrievers (``name -> model``, the names of
            ``config.retrievers``), e.g. ``load_pipeline(...).retrievers``: only the pre-ranker
            and the ranker are trained then.
        log: where progress lines go (``print``; ``lambda s: None`` for silence).

    Returns:
        The trained :class:`Pipeline` in eval mode.
    """
    from recnotes.train import TrainConfig, Trainer, seed_everything

    start = time.perf_counter()
    if retrievers is None:
        retrievers = {name: _train_retriever(name, data, config, log) for name in config.retrievers}
    elif list(retrievers) != list(config.retrievers):
        raise PipelineError(
            f"retrievers {list(retrievers)} do not match config.retrievers {list(config.retrievers)}"
        )
    pipe = Pipeline(data, retrievers, None, None, config)
    rows, vectors, source, item_ids = _implicit_pairs(pipe, config)
    labels = torch.zeros(item_ids.shape[0])
    labels[: rows.shape[0]] = 1.0
    log(f"pre-rank/rank training pairs: {len(labels):,} ({rows.shape[0]:,} positives; per positive "
        f"{config.negatives} uniform and {config.hard_negatives} recall-list negatives)")  # fmt: skip
    view, vrows, vusers, vids, vscores, vlabels = _valid_candidates(pipe, config)

    # -- pre-rank: the primary retriever's vectors of each training pair ---------------------------
    items = pipe.item_vectors[pipe.primary][item_ids]  # (T, D)
    u = _pair_user_vectors(vectors[source], items[:, None, :]).squeeze(1)
    dim = items.shape[-1]
    pre_table = FeatureTable(
        {"user_vector": u, "item_vector": items, "recall_score": (u * items).sum(-1),
         "label": labels},
        prerank_schema(dim), validate=False,
    )  # fmt: skip
    seed_everything(config.seed)
    prerank = PreRankMLP(prerank_schema(dim), PreRankMLPConfig(**_tuples(config.prerank_config)))
    pipe.prerank = prerank
    rank_train = TrainConfig(epochs=config.rank_epochs, batch_size=config.rank_batch_size,
                             lr=config.lr, monitor="auc", patience=config.patience,
                             seed=config.seed, device="cpu", progress=False)  # fmt: skip
    t0 = time.perf_counter()
    Trainer(prerank, rank_train, validate_fn=lambda m: _pooled_auc(
        vlabels, pipe.prerank_scores(vusers, vids, vscores))).fit(pre_table)  # fmt: skip
    log(f"pre-rank: trained in {time.perf_counter() - t0:.0f} s")
    del pre_table, u, items

    # -- rank -----------------------------------------------------------------------------------
    seed_everything(config.seed)
    names = pipe.ranker_features
    rank_schema = Schema([*(data.schema[n] for n in names), Feature("label", "label")])
    ranker = _build(config.ranker, rank_schema, config.ranker_config, ("ranking",))
    pipe.ranker = ranker
    columns = {"label": labels}
    for name in names:  # user-side columns from the training row, item-side from the catalogue
        col = (
            data.items[name][item_ids]
            if name.startswith("item_")
            else data.train.columns[name][rows[source]]
        )
        columns[name] = col
    rank_table = FeatureTable(columns, rank_schema, validate=False)
    t0 = time.perf_counter()
    Trainer(ranker, rank_train, validate_fn=lambda m: _pooled_auc(
        vlabels, pipe.rank_scores(view, vrows, vids))).fit(rank_table)  # fmt: skip
    log(f"rank: {config.ranker} trained in {time.perf_counter() - t0:.0f} s")
    log(f"pipeline trained in {time.perf_counter() - start:.0f} s")
    return pipe.eval()


def load_pipeline(folder: str | Path, data: RetrievalData | None = None) -> Pipeline:
    """Load a pipeline written by :meth:`Pipeline.save` (rebuilding its data unless given).

    Raises:
        FileNotFoundError: no ``pipeline.json`` in the folder; the message gives the command that
            trains one.
    """
    from recnotes import registry

    folder = Path(folder)
    meta_path = folder / "pipeline.json"
    if not meta_path.exists():
        raise FileNotFoundError(
            f"no trained pipeline in {folder} (no pipeline.json); train one with "
            f"`python -m recnotes pipeline train --out {folder}` (add --quick for a synthetic one "
            "in seconds)"
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if data is None:
        data = dataset_for(meta["dataset"])
    config = PipelineConfig(**_tuples(meta["config"]))
    retrievers = {}
    for name, cfg in meta["retrievers"].items():
        spec = registry.get(name)
        model = spec.cls(data.schema, spec.config_cls(**_tuples(cfg)))
        model.load_state_dict(torch.load(folder / f"retriever-{name}.pt", weights_only=True))
        retrievers[name] = model.eval()
    names = ranker_features(data.schema, config.ranker_features)
    rank_schema = Schema([*(data.schema[n] for n in names), Feature("label", "label")])
    spec = registry.get(config.ranker)
    ranker = spec.cls(rank_schema, spec.config_cls(**_tuples(meta["ranker"])))
    ranker.load_state_dict(torch.load(folder / "ranker.pt", weights_only=True))
    state = torch.load(folder / "prerank.pt", weights_only=True)
    pipe = Pipeline(data, retrievers, None, ranker.eval(), config)
    dim = pipe.item_vectors[pipe.primary].shape[-1]
    prerank = PreRankMLP(prerank_schema(dim), PreRankMLPConfig(**_tuples(meta["prerank"])))
    prerank.load_state_dict(state)
    pipe.prerank = prerank.eval()
    return pipe


def dataset_for(spec: Mapping[str, Any]) -> RetrievalData:
    """The data a saved pipeline was trained on: ``{"name": "ml-1m" | "synthetic", ...}``."""
    from recnotes.data.retrieval import retrieval_movielens_1m, retrieval_synthetic

    spec = dict(spec)
    name = spec.pop("name")
    if name == "ml-1m":
        return retrieval_movielens_1m(**spec)
    if name == "synthetic":
        return retrieval_synthetic(**spec)
    raise PipelineError(f"unknown pipeline dataset {name!r}; 'ml-1m' or 'synthetic'")


# --------------------------------------------------------------------------------------------------
# Stage metrics and the relevance/diversity sweep
# --------------------------------------------------------------------------------------------------


@dataclass
class _Funnel:
    """Every stage's lists for a set of users, kept for the metrics and the sweep."""

    rows: torch.Tensor
    targets: torch.Tensor
    ids: torch.Tensor  # (U, K) recall candidates, best first
    recall_scores: torch.Tensor
    prerank_scores: torch.Tensor  # (U, K)
    kept: torch.Tensor  # (U, M) positions into ids, by pre-rank score
    rank_scores: torch.Tensor  # (U, M) of ids.gather(1, kept)
    rank_all: torch.Tensor  # (U, K) ranker on every recall candidate (for AUC)


def run_funnel(pipe: Pipeline, split: str = "test", users: int | None = None,
               batch_size: int = 512) -> _Funnel:  # fmt: skip
    """Recall, pre-rank and rank for the split's users (the first ``users`` of them, or all)."""
    view = pipe.view(split)
    rows = torch.arange(len(view.user_ids) if users is None else min(users, len(view.user_ids)))
    k1, k2 = pipe.config.topk_recall, pipe.config.topk_prerank
    parts = []
    for chunk in rows.split(batch_size):
        users = pipe.user_vectors(view, chunk)
        ids, rs = pipe.recall(view, chunk, k1, users)
        pre = pipe.prerank_scores(users, ids, rs)
        kept = torch.topk(pre, k2, dim=1).indices
        rank_all = pipe.rank_scores(view, chunk, ids)
        parts.append((ids, rs, pre, kept, rank_all.gather(1, kept), rank_all))
    cat = [torch.cat(p) for p in zip(*parts, strict=True)]
    return _Funnel(rows, view.targets[rows], cat[0], cat[1], cat[2], cat[3], cat[4], cat[5])


def _list_metrics(hit_pos: torch.Tensor, k: int) -> tuple[float, float]:
    """HR@k (= Recall@k with one target) and NDCG@k from the target's 0-based position (-1: absent)."""
    hit = (hit_pos >= 0) & (hit_pos < k)
    gain = torch.where(hit, 1.0 / torch.log2(hit_pos.clamp_min(0).double() + 2), 0.0)
    return float(hit.double().mean()), float(gain.mean())


def _position(ids: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    match = ids == targets[:, None]
    return torch.where(match.any(1), match.float().argmax(1), -1)


def _final_lists(pipe: Pipeline, f: _Funnel, k: int, reranker: str, value: float) -> torch.Tensor:
    """``(U, k)`` item ids of the re-ranked lists (``value``: lambda for MMR, theta for DPP)."""
    kept_ids = f.ids.gather(1, f.kept)
    out = torch.empty(kept_ids.shape[0], k, dtype=torch.long)
    for u in range(kept_ids.shape[0]):
        if reranker == "mmr":
            order = pipe.rerank(f.rank_scores[u], kept_ids[u], k, "mmr", lambda_mmr=value)
        else:
            order = pipe.rerank(f.rank_scores[u], kept_ids[u], k, "dpp", theta_dpp=value)
        out[u] = kept_ids[u][order]
    return out


def _rerank_metrics(pipe: Pipeline, f: _Funnel, lists: torch.Tensor) -> dict[str, float]:
    k = lists.shape[1]
    hr, ndcg = _list_metrics(_position(lists, f.targets), k)
    vectors = pipe.item_vectors[pipe.primary][lists]  # (U, k, D)
    return {f"precision@{k}": hr / k, f"ndcg@{k}": ndcg, f"ild@{k}": float(M.ild(vectors))}


def evaluate_pipeline(pipe: Pipeline, split: str = "test", users: int | None = None,
                      funnel: _Funnel | None = None) -> dict[str, float]:  # fmt: skip
    """Every stage's metrics on a held-out split (one target item per user).

    * recall: ``recall.recall@K``, ``recall.hr@K`` (equal with one target), ``recall.ndcg@K`` of the
      ``K = topk_recall`` candidates (earlier items excluded, as served); for reference, the
      retriever's own score as a scorer of its list (``recall.auc``, ``recall.gauc``) and its own
      top-k (``recall.precision@k``, ``recall.ndcg@k``, ``recall.ild@k``).
    * pre-rank and rank: ``auc``, ``gauc``, ``logloss`` over all (user, candidate) pairs of the
      recall lists (label 1 for the held-out item, 0 for the rest; GAUC over users whose list
      holds it), and ``prerank.hr@M``: the share of users whose item survives the pre-rank cut.
    * re-rank: ``rerank.precision@k``, ``rerank.ndcg@k``, ``rerank.ild@k`` of the final lists with
      the configured re-ranker, and ``rank.*@k`` of the ranker's own top-k (no re-ranking).
    """
    f = funnel or run_funnel(pipe, split, users)
    c = pipe.config
    out: dict[str, float] = {}
    hr, ndcg = _list_metrics(_position(f.ids, f.targets), c.topk_recall)
    out.update({f"recall.recall@{c.topk_recall}": hr, f"recall.hr@{c.topk_recall}": hr,
                f"recall.ndcg@{c.topk_recall}": ndcg})  # fmt: skip
    labels = (f.ids == f.targets[:, None]).float()
    groups = torch.arange(f.ids.shape[0])[:, None].expand_as(f.ids).reshape(-1)
    y = labels.reshape(-1)
    if 0 < y.sum() < y.numel():  # the retriever's own score as a scorer of its list, for reference
        out["recall.auc"] = M.auc(y, f.recall_scores.reshape(-1))
        out["recall.gauc"] = M.gauc(y, f.recall_scores.reshape(-1), groups).value
    for stage, scores in (("prerank", f.prerank_scores), ("rank", f.rank_all)):
        y, s = labels.reshape(-1), scores.reshape(-1)
        if 0 < y.sum() < y.numel():
            out[f"{stage}.auc"] = M.auc(y, s)
            out[f"{stage}.gauc"] = M.gauc(y, s, groups).value
        out[f"{stage}.logloss"] = M.log_loss(y, s)
    kept_ids = f.ids.gather(1, f.kept)
    out[f"prerank.hr@{c.topk_prerank}"] = _list_metrics(
        _position(kept_ids, f.targets), c.topk_prerank
    )[0]
    k = c.topk_final
    out.update({f"recall.{m}": v for m, v in _rerank_metrics(pipe, f, f.ids[:, :k]).items()})
    by_rank = kept_ids.gather(1, torch.argsort(f.rank_scores, dim=1, descending=True, stable=True))
    out.update({f"rank.{m}": v for m, v in _rerank_metrics(pipe, f, by_rank[:, :k]).items()})
    value = c.lambda_mmr if c.reranker == "mmr" else c.theta_dpp
    lists = _final_lists(pipe, f, k, c.reranker, value)
    out.update({f"rerank.{m}": v for m, v in _rerank_metrics(pipe, f, lists).items()})
    return out


def rerank_sweep(
    pipe: Pipeline,
    lambdas: Sequence[float] = tuple(i / 10 for i in range(11)),
    thetas: Sequence[float] = (0.0, 0.2, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99),
    split: str = "test",
    users: int | None = None,
    funnel: _Funnel | None = None,
    log: Callable[[str], None] = print,
    sample: int | None = None,
    seed: int = 0,
) -> list[dict[str, float]]:
    """NDCG@k, Precision@k and ILD@k of the final lists as MMR's lambda and DPP's theta move.

    Both re-rankers re-order the same ranked candidates (the pre-rank survivors with the ranker's
    scores), so the points differ only by the re-ranker and its parameter.

    Args:
        sample: re-rank a seeded random sample of this many of the funnel's users (all if None):
            every point costs one MMR or DPP run per user.

    Returns:
        One dict per point: ``method`` (``"mmr"`` or ``"dpp"``), ``value`` (lambda or theta) and
        the metrics.
    """
    f = funnel or run_funnel(pipe, split, users)
    if sample is not None and sample < f.rows.shape[0]:
        pick = torch.randperm(f.rows.shape[0], generator=torch.Generator().manual_seed(seed))
        pick = pick[:sample].sort().values
        f = _Funnel(*(getattr(f, name)[pick] for name in _Funnel.__dataclass_fields__))
    k = pipe.config.topk_final
    points = []
    for method, values in (("mmr", lambdas), ("dpp", thetas)):
        for value in values:
            lists = _final_lists(pipe, f, k, method, float(value))
            row = {"method": method, "value": float(value), **_rerank_metrics(pipe, f, lists)}
            log(
                f"{method} {value:.2f}: ndcg@{k} {row[f'ndcg@{k}']:.4f}, ild@{k} {row[f'ild@{k}']:.4f}"
            )
            points.append(row)
    return points


def quick_config(**changes: Any) -> PipelineConfig:
    """A configuration that trains on ``retrieval_synthetic()`` in seconds (tests, CI, --quick)."""
    base = PipelineConfig(
        retriever_config={"dssm": {"embed_dim": 16, "hidden": (32, 32)}},
        ranker_config={"embed_dim": 8, "hidden": (32, 16)},
        prerank_config={"hidden": (16, 8)},
        topk_recall=50,
        topk_prerank=30,
        topk_final=10,
        max_rank_rows=4000,
        valid_users=200,
        recall_epochs=3,
        rank_epochs=2,
        batch_size=256,
        rank_batch_size=512,
        lr=3e-3,
    )
    return replace(base, **changes)


def ml1m_config(**changes: Any) -> PipelineConfig:
    """The MovieLens-1M configuration of ``python -m recnotes pipeline train`` and
    ``experiments/pipeline_ml1m.py``: DSSM with the settings of ``experiments/recall_benchmark.py``
    for ML-1M, everything else :class:`PipelineConfig`'s defaults."""
    base = PipelineConfig(
        retriever_config={"dssm": {"embed_dim": 64, "hidden": (128, 64), "temperature": 0.05}},
        recall_epochs=8,
    )
    return replace(base, **changes)
