"""Top-k retrieval over item vectors: exact (torch) or approximate (faiss), behind one API.

A retriever scores a user against every item by an inner product, ``s(u, i) = <u, v_i>``, and hands
the best ``k`` items to the next stage. [`build_index`][recnotes.index.build_index] takes the item
matrix ``(N, D)`` once; [`Index.search`][recnotes.index.Index.search] answers a batch of queries
``(B, D)`` with ``scores (B, k)`` and item ids ``(B, k)`` (row positions in the item matrix), best
first. [`Index.search_multi`][recnotes.index.Index.search_multi] does the same for multi-interest
users ``(B, K, D)``: an item's score is its best score over the ``K`` interests.

Kinds (``kind=``):

* ``"exact"``: torch only. Scores are computed block by block (``query_batch`` queries against
  ``chunk_size`` items at a time) and merged into a running top-k, so memory stays at
  ``query_batch x chunk_size`` scores whatever ``N`` is. Works on any device the item tensor is on.
* ``"flat"``: faiss ``IndexFlatIP``, exact brute force in faiss (float32).
* ``"ivf"``: faiss ``IndexIVFFlat``: k-means splits the items into ``nlist`` lists; a query scans
  the ``nprobe`` lists whose centroids score highest. k-means is trained on ``train_size`` items
  drawn with ``seed``.
* ``"hnsw"``: faiss ``IndexHNSWFlat``: a navigable small-world graph with ``M`` links per node,
  built with ``ef_construction`` and searched with ``ef_search`` candidates.

The faiss kinds need ``pip install 'recnotes[ann]'``; faiss is imported only when one is asked for,
and [`FaissNotInstalledError`][recnotes.index.FaissNotInstalledError] says how to install it.

Metrics (``metric=``): ``"ip"`` (inner product, what two-tower models are trained for) or
``"cosine"`` (item and query vectors are L2-normalised first, so a zero vector is refused).

**Seen-item masking.** ``exclude`` gives, per query row, the item ids that must never be returned
(the user's training history), in the same forms as the evaluation's ``seen``
([`recnotes.evaluate.Seen`][recnotes.evaluate.Seen]): a CSR pair ``(indptr (B+1,), indices)``, a
list of ``B`` 1-D id tensors, or an object with ``indptr``/``indices`` such as ``SeenItems``. The
result always holds ``k`` distinct unseen items per row:

* the exact kind masks seen items to ``-inf`` before each chunk's top-k;
* the faiss kinds over-fetch ``k + m`` results, ``m`` being the largest number of excluded ids of
  a row in the batch, drop the excluded ones and keep the first ``k``. A row for which that still
  leaves fewer than ``k`` (IVF probed too few lists, HNSW's beam missed) is answered by the exact
  search over the same vectors, so the answer is never short;
* a row with fewer than ``k`` items left after exclusion is an error (``ValueError``), not a
  silently short or padded row.

**Ties.** Scores equal those of ``torch.topk`` over the full score matrix. Rows are ordered by score,
then by item id. Which of several items tied at the ``k``-th score is returned is unspecified, as
with ``torch.topk``.

Shapes: ``N`` items, ``D`` vector dim, ``B`` queries, ``K`` interests, ``k`` results per query.

Example:
    >>> items = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.7, 0.7], [-1.0, 0.0]])
    >>> index = build_index(items, kind="exact")
    >>> scores, ids = index.search(torch.tensor([[1.0, 0.2]]), k=2)
    >>> ids.tolist()
    [[0, 2]]
    >>> index.search(torch.tensor([[1.0, 0.2]]), k=2, exclude=[torch.tensor([0])])[1].tolist()
    [[2, 1]]
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from recnotes.evaluate import Seen, as_csr

__all__ = ["KINDS", "METRICS", "FaissNotInstalledError", "Index", "build_index"]

KINDS: tuple[str, ...] = ("exact", "flat", "ivf", "hnsw")
"""The index kinds: ``"exact"`` needs torch only, the others faiss."""
METRICS: tuple[str, ...] = ("ip", "cosine")
"""Similarity: inner product, or cosine (vectors L2-normalised at build and search time)."""

# The parameters each kind accepts, with their defaults (None: derived from N, see _ivf_defaults).
_DEFAULTS: dict[str, dict[str, Any]] = {
    # 64 MiB of float32 scores per block at the defaults; a chunk's top-k is cheap next to it.
    "exact": {"chunk_size": 65_536, "query_batch": 256},
    "flat": {},
    # nlist about 4 sqrt(N) (faiss wiki, "Guidelines to choose an index"); train_size 64 points per
    # list, above the 39 per centroid below which faiss warns; nprobe None means nlist // 8.
    "ivf": {"nlist": None, "nprobe": None, "train_size": None, "seed": 0},
    # faiss's IndexHNSWFlat defaults for M and efConstruction; ef_search is raised to the number of
    # results fetched when that is larger (a beam narrower than k cannot return k items).
    "hnsw": {"m": 32, "ef_construction": 40, "ef_search": 128},
}


class FaissNotInstalledError(ImportError):
    """A faiss kind was asked for but faiss is not installed."""


def _import_faiss() -> Any:
    """Import faiss, or say how to install it."""
    try:
        import faiss
    except ImportError as err:
        raise FaissNotInstalledError(
            "index kinds 'flat', 'ivf' and 'hnsw' need faiss, which is not installed: "
            "run `pip install 'recnotes[ann]'` (or `pip install faiss-cpu`), or use kind='exact'"
        ) from err
    return faiss


def _ivf_defaults(num_items: int, params: dict[str, Any]) -> dict[str, Any]:
    """Fill the IVF parameters derived from the catalogue size."""
    out = dict(params)
    if out["nlist"] is None:
        out["nlist"] = max(1, min(int(4 * num_items**0.5), num_items // 39))
    if out["nprobe"] is None:
        out["nprobe"] = max(1, out["nlist"] // 8)
    if out["train_size"] is None:
        out["train_size"] = min(num_items, 64 * out["nlist"])
    return out


def _check_params(kind: str, num_items: int, params: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(params) - set(_DEFAULTS[kind]))
    if unknown:
        known = ", ".join(_DEFAULTS[kind]) or "none"
        raise ValueError(f"kind {kind!r} has no parameter {unknown}; its parameters: {known}")
    merged = {**_DEFAULTS[kind], **params}
    if kind == "ivf":
        merged = _ivf_defaults(num_items, merged)
    for name, value in merged.items():
        if name == "seed":
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"seed must be an integer, got {value!r}")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    if kind == "ivf":
        if merged["nlist"] > num_items:
            raise ValueError(f"nlist={merged['nlist']} lists cannot be made from {num_items} items")
        if not merged["nlist"] <= merged["train_size"] <= num_items:
            raise ValueError(
                f"train_size must be between nlist ({merged['nlist']}) and the number of items "
                f"({num_items}), got {merged['train_size']}"
            )
        merged["nprobe"] = min(merged["nprobe"], merged["nlist"])
    return merged


def _check_vectors(name: str, x: Any, dims: tuple[int, ...]) -> torch.Tensor:
    """A non-empty finite floating-point tensor with one of the given numbers of dims."""
    t = torch.as_tensor(x)
    if not t.dtype.is_floating_point:
        raise ValueError(f"{name} must hold floating-point vectors, got dtype {t.dtype}")
    if t.dim() not in dims:
        want = " or ".join(f"{d}-D" for d in dims)
        raise ValueError(f"{name} must be {want}, got shape {tuple(t.shape)}")
    if t.numel() == 0:
        raise ValueError(f"{name} is empty (shape {tuple(t.shape)}); there is nothing to search")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} holds NaN or infinite values")
    return t


def _normalise(name: str, x: torch.Tensor) -> torch.Tensor:
    """L2-normalise the last dim for the cosine metric; a zero vector has no direction."""
    norms = x.norm(dim=-1, keepdim=True)
    if (norms == 0).any():
        raise ValueError(f"{name} holds a zero vector, whose cosine similarity is undefined")
    return x / norms


@dataclass
class Index:
    """A searchable set of ``N`` item vectors. Build it with [`build_index`][recnotes.index.build_index].

    Attributes:
        kind: one of [`KINDS`][recnotes.index.KINDS].
        metric: ``"ip"`` or ``"cosine"``.
        params: the kind's parameters with defaults filled in (e.g. ``nlist``, ``nprobe``). The
            search-time ones, ``nprobe`` and ``ef_search``, may be changed here to tune the
            speed/recall trade-off without rebuilding.
        vectors: ``(N, D)`` the item vectors searched (normalised for cosine). The exact kind
            scores them; the faiss kinds keep them for the exact fall-back of short rows.
        build_time_s: seconds spent building (k-means training and adding for IVF, the graph for
            HNSW).
    """

    kind: str
    metric: str
    params: dict[str, Any]
    vectors: torch.Tensor
    build_time_s: float = 0.0
    _faiss_index: Any = field(default=None, repr=False)

    @property
    def num_items(self) -> int:
        """``N``, the number of items."""
        return self.vectors.shape[0]

    @property
    def dim(self) -> int:
        """``D``, the vector dimension."""
        return self.vectors.shape[1]

    def __len__(self) -> int:
        return self.num_items

    def nbytes(self) -> int:
        """Bytes the index structure holds: the vectors for ``"exact"``, faiss's serialised index
        (vectors, lists or graph) for the others."""
        if self._faiss_index is None:
            return self.vectors.element_size() * self.vectors.numel()
        return int(_import_faiss().serialize_index(self._faiss_index).nbytes)

    # --8<-- [start:search]
    def search(
        self, queries: torch.Tensor, k: int, exclude: Seen | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``k`` best items for each query, best first, never an excluded one.

        Args:
            queries: ``(B, D)`` query (user) vectors.
            k: results per query, ``1 <= k <= N`` minus the row's excluded items.
            exclude: items never to return, per row (see the module docstring), or ``None``.

        Returns:
            ``scores (B, k)`` float and ``ids (B, k)`` int64 item row positions, sorted by score
            then id.

        Raises:
            ValueError: bad shapes, non-finite queries, ``k`` out of range, ``exclude`` malformed or
                leaving a row with fewer than ``k`` items.
        """
        q = _check_vectors("queries", queries, (2, 3))
        if q.dim() == 3:
            raise ValueError("queries are (B, K, D) multi-interest vectors: use search_multi")
        if q.shape[1] != self.dim:
            raise ValueError(
                f"queries have dim {q.shape[1]} but the indexed items have dim {self.dim}"
            )
        csr = self._check_k_and_exclude(q.shape[0], k, exclude)
        q = q.to(self.vectors.device, self.vectors.dtype)
        if self.metric == "cosine":
            q = _normalise("queries", q)
        if self._faiss_index is None:
            return self._exact(q, k, csr)
        return self._faiss(q, k, csr)

    # --8<-- [end:search]

    def search_multi(
        self, queries: torch.Tensor, k: int, exclude: Seen | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Multi-interest search: each of the ``K`` interests retrieves ``k`` items, and the
        ``K x k`` candidates are merged into ``k`` distinct items by their best score.

        With the exact kind this equals the top-k of ``max_K <q_K, v_i>`` over all items (the score
        of [`recnotes.evaluate.dot_scorer`][recnotes.evaluate.dot_scorer]): an item in that top-k
        is, for the interest that gives its max, beaten by fewer than ``k`` items, so that interest
        retrieves it.

        Args:
            queries: ``(B, K, D)`` interest vectors.
            k: results per user.
            exclude: items never to return, per user (``B`` rows), shared by the user's interests.

        Returns:
            ``scores (B, k)`` and ``ids (B, k)``, as [`search`][recnotes.index.Index.search].
        """
        q = _check_vectors("queries", queries, (3,))
        b, num_interests, d = q.shape
        if d != self.dim:
            raise ValueError(f"queries have dim {d} but the indexed items have dim {self.dim}")
        csr = self._check_k_and_exclude(b, k, exclude)
        flat_exclude = None
        if csr is not None:  # each interest row inherits its user's excluded items
            flat_exclude = _select_rows(csr, torch.arange(b).repeat_interleave(num_interests))
        scores, ids = self.search(q.reshape(b * num_interests, d), k, flat_exclude)
        return _merge_interests(scores.reshape(b, -1), ids.reshape(b, -1), k)

    # ----------------------------------------------------------------------------------------------
    def _check_k_and_exclude(
        self, rows: int, k: int, exclude: Seen | None
    ) -> tuple[torch.Tensor, torch.Tensor] | None:
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be an integer >= 1, got {k!r}")
        if k > self.num_items:
            raise ValueError(f"k={k} is larger than the catalogue ({self.num_items} items)")
        if exclude is None:
            return None
        csr = as_csr(exclude, rows, self.num_items)
        indptr, indices = csr
        row_of = torch.repeat_interleave(torch.arange(rows), indptr[1:] - indptr[:-1])
        distinct = torch.unique(row_of * self.num_items + indices)
        left = self.num_items - torch.bincount(distinct // self.num_items, minlength=rows)
        short = torch.nonzero(left < k).flatten()
        if short.numel():
            r = int(short[0])
            raise ValueError(
                f"row {r} leaves {int(left[r])} items after exclusion, fewer than k={k}; "
                "lower k or exclude fewer items"
            )
        return csr

    # --8<-- [start:exact]
    def _exact(
        self, q: torch.Tensor, k: int, csr: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Blocked brute force: a running top-k over item chunks, seen items at ``-inf``."""
        sizes = {**_DEFAULTS["exact"], **self.params}  # a faiss index's fall-back uses the defaults
        chunk, block = sizes["chunk_size"], sizes["query_batch"]
        n, device = self.num_items, self.vectors.device
        out_scores, out_ids = [], []
        for start in range(0, q.shape[0], block):
            qb = q[start : start + block]  # (b, D)
            seen_row, seen_item = _seen_pairs(csr, start, qb.shape[0], device)
            best_s = torch.empty(qb.shape[0], 0, dtype=q.dtype, device=device)
            best_i = torch.empty(qb.shape[0], 0, dtype=torch.long, device=device)
            for lo in range(0, n, chunk):
                s = qb @ self.vectors[lo : lo + chunk].T  # (b, c)
                if seen_row is not None:
                    inside = (seen_item >= lo) & (seen_item < lo + s.shape[1])
                    s[seen_row[inside], seen_item[inside] - lo] = float("-inf")  # never returned
                top_s, top_i = torch.topk(s, min(k, s.shape[1]), dim=1)
                best_s, pos = torch.topk(
                    torch.cat([best_s, top_s], 1), min(k, best_s.shape[1] + top_s.shape[1]), dim=1
                )
                best_i = torch.cat([best_i, top_i + lo], 1).gather(1, pos)
            out_scores.append(best_s)
            out_ids.append(best_i)
        return _sort_rows(torch.cat(out_scores), torch.cat(out_ids))

    # --8<-- [end:exact]

    # --8<-- [start:faiss]
    def _faiss(
        self, q: torch.Tensor, k: int, csr: tuple[torch.Tensor, torch.Tensor] | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """faiss search that over-fetches by the largest excluded count, then drops excluded ids;
        rows still short of ``k`` are answered by the exact search."""
        faiss = _import_faiss()
        rows = q.shape[0]
        extra = 0 if csr is None else int((csr[0][1:] - csr[0][:-1]).max())
        fetch = min(self.num_items, k + extra)
        params = None
        if self.kind == "ivf":
            params = faiss.SearchParametersIVF(nprobe=self.params["nprobe"])
        elif self.kind == "hnsw":
            params = faiss.SearchParametersHNSW(efSearch=max(self.params["ef_search"], fetch))
        x = np.ascontiguousarray(q.detach().cpu().numpy(), dtype=np.float32)
        d, i = self._faiss_index.search(x, fetch, params=params)
        scores, ids = torch.from_numpy(d), torch.from_numpy(i).long()  # (B, fetch)
        valid = ids >= 0  # faiss pads with -1 when it found fewer than `fetch`
        if csr is not None:
            seen_row, seen_item = _seen_pairs(csr, 0, rows, torch.device("cpu"))
            keys = torch.arange(rows).unsqueeze(1) * self.num_items + ids.clamp(min=0)
            valid &= ~torch.isin(keys, seen_row * self.num_items + seen_item)
        # valid results keep faiss's order (best first); invalid ones sink to the end
        order = torch.sort((~valid).to(torch.int8), dim=1, stable=True).indices[:, :k]
        scores, ids, valid = scores.gather(1, order), ids.gather(1, order), valid.gather(1, order)
        short = torch.nonzero(~valid.all(1)).flatten()
        if short.numel():
            sub = None if csr is None else _select_rows(csr, short)
            s_short, i_short = self._exact(q.cpu()[short].to(self.vectors), k, sub)
            scores[short], ids[short] = s_short.to(scores), i_short
        return _sort_rows(scores.to(self.vectors.device), ids.to(self.vectors.device))

    # --8<-- [end:faiss]


def _seen_pairs(
    csr: tuple[torch.Tensor, torch.Tensor] | None, start: int, rows: int, device: torch.device
) -> tuple[torch.Tensor | None, torch.Tensor | None]:
    """(row within the block, item id) of every excluded item of rows ``start .. start + rows``."""
    if csr is None:
        return None, None
    indptr, indices = csr
    counts = indptr[start + 1 : start + rows + 1] - indptr[start : start + rows]
    row = torch.repeat_interleave(torch.arange(rows), counts)
    item = indices[indptr[start] : indptr[start + rows]]
    return row.to(device), item.to(device)


def _select_rows(
    csr: tuple[torch.Tensor, torch.Tensor], rows: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The CSR of the given rows only."""
    indptr, indices = csr
    parts = [indices[indptr[r] : indptr[r + 1]] for r in rows.tolist()]
    new_ptr = torch.zeros(len(parts) + 1, dtype=torch.long)
    new_ptr[1:] = torch.cumsum(torch.tensor([p.numel() for p in parts], dtype=torch.long), 0)
    return new_ptr, torch.cat(parts) if parts else indices[:0]


def _sort_rows(scores: torch.Tensor, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Order each row by score (descending), ties by item id (ascending)."""
    by_id = torch.argsort(ids, dim=1)
    scores, ids = scores.gather(1, by_id), ids.gather(1, by_id)
    by_score = torch.sort(scores, dim=1, descending=True, stable=True).indices
    return scores.gather(1, by_score), ids.gather(1, by_score)


# --8<-- [start:merge]
def _merge_interests(
    scores: torch.Tensor, ids: torch.Tensor, k: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge ``(B, K*k)`` per-interest results into ``k`` distinct items by their max score."""
    # best score first, then group equal ids: the first of each run of an id is its max
    by_score = torch.sort(scores, dim=1, descending=True, stable=True).indices
    scores, ids = scores.gather(1, by_score), ids.gather(1, by_score)
    by_id = torch.sort(ids, dim=1, stable=True).indices
    scores, ids = scores.gather(1, by_id), ids.gather(1, by_id)
    repeat = torch.zeros_like(ids, dtype=torch.bool)
    repeat[:, 1:] = ids[:, 1:] == ids[:, :-1]
    scores = scores.masked_fill(repeat, float("-inf"))  # a duplicate must not take a second slot
    top = torch.topk(scores, k, dim=1).indices  # each interest gave k distinct ids: >= k remain
    return _sort_rows(scores.gather(1, top), ids.gather(1, top))


# --8<-- [end:merge]


# --8<-- [start:build]
def build_index(
    item_vectors: torch.Tensor, kind: str = "exact", metric: str = "ip", **params: Any
) -> Index:
    """Index ``(N, D)`` item vectors for top-k search.

    Args:
        item_vectors: ``(N, D)`` finite floating-point item vectors; row ``i`` is item id ``i``.
        kind: ``"exact"`` (torch), or faiss's ``"flat"``, ``"ivf"``, ``"hnsw"``.
        metric: ``"ip"`` (inner product) or ``"cosine"``.
        **params: the kind's parameters. ``exact``: ``chunk_size`` (items per block, default
            65,536) and ``query_batch`` (queries per block, 256). ``ivf``: ``nlist`` (default
            ``4 sqrt(N)``, at most ``N / 39``), ``nprobe`` (``nlist // 8``), ``train_size``
            (k-means sample, ``64 nlist`` items, at most ``N``), ``seed`` (0). ``hnsw``: ``m``
            (links per node, 32), ``ef_construction`` (40), ``ef_search`` (128, raised to the
            number of results fetched).

    Returns:
        An [`Index`][recnotes.index.Index].

    Raises:
        ValueError: an unknown kind, metric or parameter, or empty, non-2-D or non-finite vectors.
        FaissNotInstalledError: a faiss kind without faiss installed.

    Example:
        >>> index = build_index(torch.randn(100, 8), kind="exact", metric="cosine")
        >>> scores, ids = index.search(torch.randn(3, 8), k=5)
        >>> tuple(ids.shape), bool((scores[:, :-1] >= scores[:, 1:]).all())
        ((3, 5), True)
    """
    if kind not in KINDS:
        raise ValueError(f"unknown index kind {kind!r}; choose one of {', '.join(KINDS)}")
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    vectors = _check_vectors("item_vectors", item_vectors, (2,))
    if vectors.shape[1] == 0:
        raise ValueError("item_vectors have dimension 0; there is nothing to compare")
    params = _check_params(kind, vectors.shape[0], params)
    faiss = None if kind == "exact" else _import_faiss()  # fail before any work
    start = time.perf_counter()
    if metric == "cosine":
        vectors = _normalise("item_vectors", vectors)
    if faiss is None:
        return Index(kind, metric, params, vectors, time.perf_counter() - start)
    x = np.ascontiguousarray(vectors.detach().cpu().numpy(), dtype=np.float32)
    n, d = x.shape
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind == "ivf":
        index = faiss.IndexIVFFlat(
            faiss.IndexFlatIP(d), d, params["nlist"], faiss.METRIC_INNER_PRODUCT
        )
        index.cp.seed = params["seed"]  # k-means initialisation
        sample = np.random.default_rng(params["seed"]).choice(
            n, params["train_size"], replace=False
        )
        index.train(x[np.sort(sample)])
    else:
        index = faiss.IndexHNSWFlat(d, params["m"], faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = params["ef_construction"]
    index.add(x)
    kept = torch.from_numpy(x)  # float32 copy shared with nothing faiss owns
    return Index(kind, metric, params, kept, time.perf_counter() - start, index)


# --8<-- [end:build]
