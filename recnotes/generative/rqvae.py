"""RQ-VAE semantic ids: turn item content embeddings into short tuples of codes that share prefixes.

Paper: Shashank Rajput, Nikhil Mehta, Anima Singh, Raghunandan Keshavan, Trung Vu, Lukasz Heldt,
Lichan Hong, Yi Tay, Vinh Q. Tran, Jonah Samost, Maciej Kula, Ed H. Chi and Maheswaran Sathiamoorthy,
"Recommender Systems with Generative Retrieval", NeurIPS 2023 (TIGER), Sec. 3.1.
https://arxiv.org/abs/2305.05065. Residual quantisation: Zeghidour et al. 2021; Lee et al. 2022.

Stage: generative (a component of TIGER; not a retriever, so not in the model registry).

An item's content embedding (a sentence embedding of its title, for instance) goes through an MLP
encoder to a latent ``z``. Quantisation is **residual**: the first codebook's nearest code
approximates ``z``, the second codebook's nearest code approximates what is left, and so on, so
the first code says the most about the item and later codes refine it. Items with similar content
share their first code, often their first two: that shared prefix is what lets a sequence model
generalise from one item to its neighbours. A decoder reconstructs the input from the sum of the
chosen codes, and training minimises the reconstruction error plus, per level, a codebook term
and a commitment term (Eq. 3). Codebooks start from k-means on the first batch's residuals, and a
code no item uses is moved to a random residual (the guard against codebook collapse). Two items
may still get the same code tuple; :func:`semantic_ids` appends a last token that numbers the items
of each tuple ``0, 1, 2, ...``, so every item gets a unique id.

Shape legend: ``N`` items, ``E`` input embedding width, ``C`` code levels, ``K`` codes per level,
``d`` code width.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/generative/rqvae.md``.

Differences from the paper:

- Adam instead of Adagrad (lr 0.4); any optimiser works, and Adam needs less tuning on small data.
- The collapse guard restarts unused codes after every epoch; the paper relies on k-means
  initialisation alone.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from recnotes.layers import MLP

__all__ = [
    "RQVAEConfig",
    "RQVAE",
    "SemanticIds",
    "SemanticIdError",
    "semantic_ids",
    "kmeans",
    "train_rqvae",
]


class SemanticIdError(ValueError):
    """Semantic ids cannot be built or read as asked (a collision group too large, an unknown id)."""


@dataclass(frozen=True)
class RQVAEConfig:
    """The RQ-VAE's size and loss weights (defaults: the TIGER paper, Sec. 4.1).

    Example:
        >>> RQVAEConfig(input_dim=64, hidden=(32,), code_dim=8, codebook_size=16).num_levels
        3
    """

    input_dim: int = 768  # sentence-T5 embeddings in the paper
    hidden: tuple[int, ...] = (512, 256, 128)  # paper: 768 -> 512 -> 256 -> 128 -> 32
    code_dim: int = 32  # paper: latent dimension 32
    num_levels: int = 3  # paper: 3 levels
    codebook_size: int = 256  # paper: 256 codes per level
    beta: float = 0.25  # paper: commitment weight 0.25
    kmeans_iters: int = 20  # k-means initialisation of each codebook

    def __post_init__(self) -> None:
        for name in ("input_dim", "code_dim", "num_levels", "codebook_size", "kmeans_iters"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        if any(not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"hidden widths must be integers >= 1, got {self.hidden!r}")
        if not self.beta >= 0:
            raise ValueError(f"beta must be >= 0, got {self.beta}")


def kmeans(x: torch.Tensor, k: int, iters: int = 20, generator: torch.Generator | None = None):
    """Plain k-means (Lloyd) on ``x (n, d)``: returns ``(k, d)`` centroids.

    Centroids start at ``k`` distinct random rows (with repeats when ``n < k``); an empty cluster
    keeps its previous centroid.

    Example:
        >>> x = torch.tensor([[0.0], [0.1], [10.0], [10.1]])
        >>> sorted(round(c, 2) for c in kmeans(x, 2, generator=torch.Generator().manual_seed(0)).flatten().tolist())
        [0.05, 10.05]
    """
    n = x.shape[0]
    if n == 0:
        raise ValueError("kmeans needs at least one point")
    pick = torch.randperm(n, generator=generator)[:k]
    if pick.numel() < k:
        pick = torch.cat([pick, torch.randint(0, n, (k - pick.numel(),), generator=generator)])
    centroids = x[pick].clone()
    for _ in range(iters):
        assign = torch.cdist(x, centroids).argmin(1)  # (n,)
        sums = torch.zeros_like(centroids).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).unsqueeze(1).to(x.dtype)
        centroids = torch.where(counts > 0, sums / counts.clamp_min(1), centroids)
    return centroids


class RQVAE(nn.Module):
    """Residual-quantised autoencoder over item content embeddings.

    Args:
        config: an :class:`RQVAEConfig`.

    Shapes:
        ``forward(x (N, E)) -> (reconstruction (N, E), codes (N, C), loss ())``;
        ``codes(x) -> (N, C)`` (eval mode, no gradient).

    Example:
        >>> torch.manual_seed(0)
        <torch._C.Generator object at ...>
        >>> model = RQVAE(RQVAEConfig(input_dim=16, hidden=(8,), code_dim=4, codebook_size=5))
        >>> recon, codes, loss = model(torch.randn(10, 16))
        >>> recon.shape, codes.shape, bool(codes.max() < 5)
        (torch.Size([10, 16]), torch.Size([10, 3]), True)
    """

    def __init__(self, config: RQVAEConfig = RQVAEConfig()) -> None:
        super().__init__()
        self.config = config
        self.encoder = MLP(config.input_dim, config.hidden, config.code_dim)  # E -> ... -> d
        self.decoder = MLP(config.code_dim, tuple(reversed(config.hidden)), config.input_dim)
        self.codebooks = nn.Parameter(torch.randn(config.num_levels, config.codebook_size,
                                                  config.code_dim) * 0.1)  # fmt: skip
        self.register_buffer("initialised", torch.tensor(False))

    # --8<-- [start:quantise]
    def quantise(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Residual quantisation of ``z (N, d)``: returns (quantised ``(N, d)``, codes ``(N, C)``,
        the codebook + commitment loss summed over levels, Eq. 3)."""
        residual = z
        quantised = torch.zeros_like(z)
        codes, loss = [], z.new_zeros(())
        for level in range(self.config.num_levels):
            book = self.codebooks[level]  # (K, d)
            code = torch.cdist(residual.detach(), book.detach()).argmin(1)  # Eq. (1): nearest
            chosen = book[code]  # (N, d)
            loss = loss + F.mse_loss(chosen, residual.detach())  # codebook term: sg[r] - e
            loss = loss + self.config.beta * F.mse_loss(residual, chosen.detach())  # commitment
            quantised = quantised + chosen  # Eq. (2): sum of the chosen codes
            residual = residual - chosen.detach()  # what is left for the next level
            codes.append(code)
        return quantised, torch.stack(codes, dim=1), loss

    # --8<-- [end:quantise]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        self._check(x)
        z = self.encoder(x)
        if self.training and not bool(self.initialised):
            self.init_codebooks(z.detach())
        quantised, codes, rq_loss = self.quantise(z)
        z_q = z + (quantised - z).detach()  # straight-through: gradients skip the argmin
        recon = self.decoder(z_q)
        loss = F.mse_loss(recon, x, reduction="none").sum(1).mean() + rq_loss  # Eq. (3)
        return recon, codes, loss

    @torch.no_grad()
    def init_codebooks(self, z: torch.Tensor, generator: torch.Generator | None = None) -> None:
        """k-means on the residuals of ``z``, level by level (the paper's initialisation)."""
        residual = z
        for level in range(self.config.num_levels):
            book = kmeans(residual, self.config.codebook_size, self.config.kmeans_iters, generator)
            self.codebooks[level] = book
            residual = residual - book[torch.cdist(residual, book).argmin(1)]
        self.initialised.fill_(True)

    @torch.no_grad()
    def restart_dead_codes(self, x: torch.Tensor, generator: torch.Generator | None = None) -> int:
        """Move every code that no row of ``x`` uses onto a random residual at its level (the
        collapse guard). Returns how many codes were moved."""
        self._check(x)
        residual = self.encoder(x)
        moved = 0
        for level in range(self.config.num_levels):
            book = self.codebooks[level]
            code = torch.cdist(residual, book).argmin(1)
            used = torch.bincount(code, minlength=book.shape[0]) > 0
            dead = (~used).nonzero().flatten()
            if dead.numel():
                pick = torch.randint(0, residual.shape[0], (dead.numel(),), generator=generator)
                book[dead] = residual[pick]
                moved += dead.numel()
                code = torch.cdist(residual, book).argmin(1)
            residual = residual - book[code]
        return moved

    @torch.no_grad()
    def codes(self, x: torch.Tensor, batch_size: int = 8192) -> torch.Tensor:
        """The code tuple of every row of ``x``, ``(N, C)`` (eval mode)."""
        self._check(x)
        was = self.training
        self.eval()
        try:
            return torch.cat([self.quantise(self.encoder(x[i : i + batch_size]))[1]
                              for i in range(0, x.shape[0], batch_size)])  # fmt: skip
        finally:
            self.train(was)

    def _check(self, x: torch.Tensor) -> None:
        if not isinstance(x, torch.Tensor) or x.dim() != 2 or x.shape[1] != self.config.input_dim:
            raise ValueError(
                f"item embeddings must be a (N, {self.config.input_dim}) tensor, got "
                f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}"
            )
        if not torch.isfinite(x).all():
            raise ValueError("item embeddings contain NaN or infinite values")


def train_rqvae(
    embeddings: torch.Tensor,
    config: RQVAEConfig,
    *,
    epochs: int = 200,
    batch_size: int = 1024,
    lr: float = 1e-3,
    seed: int = 0,
    progress: bool = False,
) -> tuple[RQVAE, list[float]]:
    """Train an RQ-VAE on item embeddings; returns the model and the loss of each epoch.

    Codebooks are k-means-initialised on the first batch; unused codes are restarted after every
    epoch (on all items).
    """
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    model = RQVAE(config)
    x = embeddings.float()
    model._check(x)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    history: list[float] = []
    for epoch in range(epochs):
        order = torch.randperm(x.shape[0], generator=gen)
        total, rows = 0.0, 0
        for start in range(0, x.shape[0], batch_size):
            batch = x[order[start : start + batch_size]]
            _, _, loss = model(batch)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * batch.shape[0]
            rows += batch.shape[0]
        moved = model.restart_dead_codes(x, gen)
        history.append(total / rows)
        if progress:
            print(f"epoch {epoch + 1}/{epochs}: loss {history[-1]:.4f}, restarted {moved} codes",
                  flush=True)  # fmt: skip
    return model, history


# --8<-- [start:ids]
@dataclass(frozen=True, eq=False)
class SemanticIds:
    """Unique semantic ids for a catalogue, and the look-ups TIGER needs.

    Attributes:
        ids: ``(N, C + 1)`` int64; row ``i`` is item ``item_ids[i]``'s id: ``C`` codes, then the
            collision token (``0`` for the first item of a code tuple, ``1`` for the second, ...).
        item_ids: ``(N,)`` the items, in the order of ``ids``.
        vocab_sizes: tokens per position: ``K`` for each code level, then the collision tokens.
    """

    ids: torch.Tensor
    item_ids: torch.Tensor
    vocab_sizes: tuple[int, ...]

    def __post_init__(self) -> None:
        keys = [tuple(row) for row in self.ids.tolist()]
        lookup = dict(zip(keys, self.item_ids.tolist(), strict=True))
        if len(lookup) != len(keys):
            raise SemanticIdError("two items share a semantic id")
        object.__setattr__(self, "_lookup", lookup)

    @property
    def length(self) -> int:
        """Tokens per id, ``C + 1``."""
        return int(self.ids.shape[1])

    def item(self, sid: Iterable[int]) -> int:
        """The item whose id is ``sid``; raises :class:`SemanticIdError` for an unknown id."""
        key = tuple(int(t) for t in sid)
        if key not in self._lookup:
            raise SemanticIdError(f"no item has the semantic id {key}")
        return self._lookup[key]

    def of(self, item_ids: torch.Tensor) -> torch.Tensor:
        """The ids of ``item_ids`` (any shape ``S``) as ``S + (C + 1,)``."""
        position = torch.full((int(self.item_ids.max()) + 1,), -1, dtype=torch.long)
        position[self.item_ids] = torch.arange(self.item_ids.numel())
        rows = position[item_ids.clamp_min(0).clamp_max(position.numel() - 1)]
        if (rows < 0).any() or (item_ids < 0).any() or (item_ids >= position.numel()).any():
            raise SemanticIdError("an item has no semantic id")
        return self.ids[rows]


def semantic_ids(
    codes: torch.Tensor, item_ids: torch.Tensor, codebook_size: int, max_collisions: int = 256
) -> SemanticIds:
    """Append the collision token to ``codes (N, C)`` so that every item's id is unique.

    Items sharing a code tuple are numbered ``0, 1, ...`` in the order of ``item_ids``. Raises
    :class:`SemanticIdError` when a tuple holds more than ``max_collisions`` items (the last token's
    vocabulary), which signals codebooks too small or collapsed.

    Example:
        >>> codes = torch.tensor([[1, 2], [1, 2], [0, 3]])
        >>> sid = semantic_ids(codes, torch.tensor([10, 11, 12]), codebook_size=4)
        >>> sid.ids.tolist(), sid.item((1, 2, 1))
        ([[1, 2, 0], [1, 2, 1], [0, 3, 0]], 11)
    """
    if codes.dim() != 2 or codes.shape[0] != item_ids.shape[0]:
        raise SemanticIdError("codes must be (N, C) with one row per item")
    if codes.numel() and (codes.min() < 0 or codes.max() >= codebook_size):
        raise SemanticIdError(f"codes must be in [0, {codebook_size})")
    if torch.unique(item_ids).numel() != item_ids.numel():
        raise SemanticIdError("item_ids must be distinct")
    _, group = torch.unique(codes, dim=0, return_inverse=True)  # (N,) tuple index per item
    order = torch.argsort(group, stable=True)  # items of one tuple together, in input order
    sorted_group = group[order]
    start = torch.ones_like(sorted_group, dtype=torch.bool)
    start[1:] = sorted_group[1:] != sorted_group[:-1]
    first = torch.cummax(torch.where(start, torch.arange(len(order)), 0), 0).values
    rank = torch.empty_like(group)
    rank[order] = torch.arange(len(order)) - first  # 0, 1, 2, ... within each tuple
    if rank.numel() and int(rank.max()) >= max_collisions:
        raise SemanticIdError(
            f"{int(rank.max()) + 1} items share one code tuple, more than max_collisions="
            f"{max_collisions}: train the RQ-VAE longer or use larger codebooks"
        )
    ids = torch.cat([codes.long(), rank[:, None]], dim=1)
    return SemanticIds(ids, item_ids.long(),
                       (codebook_size,) * codes.shape[1] + (max_collisions,))  # fmt: skip


# --8<-- [end:ids]
