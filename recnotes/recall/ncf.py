"""NCF: GMF, MLP and NeuMF, neural collaborative filtering for implicit feedback.

Paper: Xiangnan He, Lizi Liao, Hanwang Zhang, Liqiang Nie, Xia Hu and Tat-Seng Chua,
"Neural Collaborative Filtering", WWW 2017. https://arxiv.org/abs/1708.05031

Stage: recall (family ``recall``). The models score a (user, item) pair from the two ids alone.

Matrix factorisation scores a pair by the inner product of a user and an item embedding, a fixed
interaction function. NCF learns the function instead. GMF keeps the element-wise product of the two
embeddings but learns a weight for each dimension; MLP concatenates the embeddings and lets a ReLU
tower, halving in width at every layer, learn the interaction; NeuMF runs a GMF and an MLP side by
side, each with its own embeddings, and joins their last layers in one output layer. All three are
trained on implicit feedback with a pointwise log loss: every observed pair against four sampled
unobserved ones ([`SampledNegativeBCE`][recnotes.losses.SampledNegativeBCE]).

Shape legend: ``B`` batch, ``C`` candidates per user, ``N`` items, ``f`` predictive factors (the
GMF embedding width and the width of the MLP tower's last layer), ``D`` the MLP embedding width.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/recall/ncf.md``.

Ids: ``user_ids`` and ``item_ids`` are 1-based, as everywhere in recnotes (0 is padding). The NCF data
files number users and items from 0, so data preparation adds one (``experiments/ncf_ml1m.py``).

Differences from the paper:

- The models return logits; the paper's output layer applies the sigmoid (in the loss here).
- Initialisation: embeddings are N(0, 0.01) as in the paper; the tower's linear layers use
  Glorot-uniform and the output layer LeCun-uniform weights (biases zero), as in the authors' code,
  where the paper says N(0, 0.01) for every parameter.
- Pre-training (Sec. 3.4.1): Eq. (13) of the paper fixes the output weights only. The output bias
  here is ``alpha * b_GMF + (1 - alpha) * b_MLP``, as in the authors' code, so the initial NeuMF
  logit is exactly ``alpha * z_GMF + (1 - alpha) * z_MLP`` (tested).
- MLP embedding width: the first tower layer's width (32 for 8 factors), as in the authors' code
  and their released 8-factor models; the paper's text says 16. ``embed_dim=16`` gives the text's.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import BatchError, Feature, Schema
from recnotes.layers import MLP, FeatureEmbedding
from recnotes.registry import ModelSpec, Paper, register

__all__ = [
    "GMFConfig",
    "NCFMLPConfig",
    "NeuMFConfig",
    "GMF",
    "NCFMLP",
    "NeuMF",
    "tower_widths",
]

_IDS = ("user_ids", "item_ids")


# -- configuration --------------------------------------------------------------------------------
def _check_common(factors: int, init_std: float) -> None:
    if isinstance(factors, bool) or not isinstance(factors, int) or factors < 1:
        raise ValueError(
            f"factors (the predictive factors) must be an integer >= 1, got {factors!r}"
        )
    if not (init_std > 0 and math.isfinite(init_std)):
        raise ValueError(f"init_std must be a positive number, got {init_std!r}")


def _check_tower(num_layers: int, embed_dim: int | None, dropout: float) -> None:
    if isinstance(num_layers, bool) or not isinstance(num_layers, int) or num_layers < 1:
        raise ValueError(
            f"num_layers must be an integer >= 1 (hidden layers of the tower), got {num_layers!r}"
        )
    if embed_dim is not None and (not isinstance(embed_dim, int) or embed_dim < 1):
        raise ValueError(
            f"the MLP embedding width must be None (the first layer's width) or >= 1, got {embed_dim!r}"
        )
    if not 0.0 <= dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {dropout}")


@dataclass(frozen=True)
class GMFConfig:
    """GMF's size. Example: ``GMFConfig(factors=64)``."""

    factors: int = 8  # predictive factors = embedding width; paper, Table 2: 8, 16, 32, 64
    init_std: float = 0.01  # paper, Sec. 4.1: embeddings drawn from N(0, 0.01)

    def __post_init__(self) -> None:
        _check_common(self.factors, self.init_std)


@dataclass(frozen=True)
class NCFMLPConfig:
    """The MLP's size: the tower has ``num_layers`` layers of widths ``tower_widths(factors, num_layers)``.

    Example:
        >>> NCFMLPConfig(factors=8).tower, NCFMLPConfig(factors=8).embedding_width
        ((32, 16, 8), 32)
    """

    factors: int = 8  # width of the last hidden layer; paper, Sec. 4.1
    num_layers: int = 3  # paper, Sec. 4.1: three hidden layers
    embed_dim: int | None = None  # None: the first layer's width, as the authors' code (32 for f=8)
    dropout: float = 0.0  # the paper uses none
    init_std: float = 0.01  # paper, Sec. 4.1

    def __post_init__(self) -> None:
        _check_common(self.factors, self.init_std)
        _check_tower(self.num_layers, self.embed_dim, self.dropout)

    @property
    def tower(self) -> tuple[int, ...]:
        """Widths of the hidden layers, first to last."""
        return tower_widths(self.factors, self.num_layers)

    @property
    def embedding_width(self) -> int:
        """``D``: the user and item embedding width of the MLP (default: the first layer's width)."""
        return self.embed_dim or self.tower[0]


@dataclass(frozen=True)
class NeuMFConfig:
    """NeuMF's size: a GMF of ``factors`` and an MLP whose tower ends at ``factors``."""

    factors: int = 8  # paper, Table 2: 8, 16, 32, 64 (both branches)
    num_layers: int = 3  # paper, Sec. 4.1: three hidden layers
    mlp_embed_dim: int | None = None  # None: as NCFMLPConfig.embed_dim (authors' code)
    dropout: float = 0.0  # the paper uses none
    init_std: float = 0.01  # paper, Sec. 4.1

    def __post_init__(self) -> None:
        _check_common(self.factors, self.init_std)
        _check_tower(self.num_layers, self.mlp_embed_dim, self.dropout)

    @property
    def mlp(self) -> NCFMLPConfig:
        """The configuration of the MLP branch."""
        return NCFMLPConfig(
            self.factors, self.num_layers, self.mlp_embed_dim, self.dropout, self.init_std
        )


def tower_widths(factors: int, num_layers: int) -> tuple[int, ...]:
    """The paper's "predictive factors" rule: the last layer has ``factors`` units and each layer
    has twice the units of the next (Sec. 4.1: 32 -> 16 -> 8 for 8 factors).

    Example:
        >>> tower_widths(8, 3), tower_widths(64, 3)
        ((32, 16, 8), (256, 128, 64))
    """
    return tuple(factors * 2 ** (num_layers - 1 - layer) for layer in range(num_layers))


# -- blocks, in the order the forward pass uses them ----------------------------------------------
# --8<-- [start:blocks]
class GMFBranch(nn.Module):
    """The element-wise product of a user and an item embedding, Eq. (1)."""

    def __init__(self, schema: Schema, factors: int, init_std: float) -> None:
        super().__init__()
        self.embedding = FeatureEmbedding(schema, factors, fields=_IDS, init_std=init_std)

    def forward(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        p = self.embedding.embed("user_ids", user_ids)  # (..., f)
        q = self.embedding.embed("item_ids", item_ids)  # (..., f)
        return p * q  # Eq. (1)


class MLPBranch(nn.Module):
    """A ReLU tower over the concatenated user and item embeddings, Eq. (3)."""

    def __init__(self, schema: Schema, config: NCFMLPConfig) -> None:
        super().__init__()
        d = config.embedding_width
        self.embedding = FeatureEmbedding(schema, d, fields=_IDS, init_std=config.init_std)
        self.tower = MLP(2 * d, config.tower, dropout=config.dropout)
        for layer in self.tower.modules():
            if isinstance(layer, nn.Linear):  # Glorot-uniform, as the authors' code (Keras default)
                nn.init.xavier_uniform_(layer.weight)
                nn.init.zeros_(layer.bias)

    def forward(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        p = self.embedding.embed("user_ids", user_ids)  # (..., D)
        q = self.embedding.embed("item_ids", item_ids)  # (..., D)
        return self.tower(torch.cat([p, q], dim=-1))  # (..., 2D) -> (..., f), Eq. (3)


# --8<-- [end:blocks]


def _output_layer(width: int) -> nn.Linear:
    """The output weights ``h`` and bias ``b``: LeCun-uniform weights, zero bias (authors' code)."""
    layer = nn.Linear(width, 1)
    bound = math.sqrt(3.0 / width)
    nn.init.uniform_(layer.weight, -bound, bound)
    nn.init.zeros_(layer.bias)
    return layer


# -- what the three models share ------------------------------------------------------------------
class PairScorer(nn.Module):
    """What GMF, MLP and NeuMF share: id checks, and ``forward`` and ``score`` around ``logits``.

    A subclass implements ``logits(user_ids, item_ids)`` for id tensors of any (equal) shape.
    Every entry point checks its ids against the schema first (dtype, shape, ``0 <= id <
    vocab_size``) and raises [`BatchError`][recnotes.data.schema.BatchError] naming the feature, so
    a bad id never surfaces as an ``IndexError`` inside an embedding. The check is one comparison
    over the ids, small next to the model.

    Args:
        schema: must declare the sparse features ``user_ids`` and ``item_ids``.
    """

    def __init__(self, schema: Schema) -> None:
        super().__init__()
        for name in _IDS:
            if name not in schema or schema[name].kind != "sparse":
                raise ValueError(
                    f"{type(self).__name__} needs a sparse feature '{name}' in the schema "
                    f"(it has: {schema.names()})"
                )
        self.schema = schema

    def _ids(self, batch: Mapping[str, torch.Tensor], name: str) -> torch.Tensor:
        """``batch[name]``, or a ``BatchError`` naming the feature when it is missing or wrong."""
        if name not in batch:
            raise BatchError(
                name, f"missing from the batch (the batch has: {', '.join(sorted(batch))})"
            )
        return self._check(name, batch[name])

    def _check(self, name: str, ids: torch.Tensor, *, flatten: bool = False) -> torch.Tensor:
        """Dtype, shape and range of ids, so a bad id never reaches an embedding as an IndexError."""
        if not isinstance(ids, torch.Tensor):
            raise BatchError(name, f"expected a torch.Tensor, got {type(ids).__name__}")
        self.schema.select([name]).validate({name: ids.reshape(-1) if flatten else ids})
        return ids

    def logits(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        """Logits of the pairs ``(user_ids[k], item_ids[k])``; both ``(...)``, same shape."""
        raise NotImplementedError

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits ``(B,)`` of the pairs in ``batch["user_ids"]`` and ``batch["item_ids"]``."""
        return self.logits(self._ids(batch, "user_ids"), self._ids(batch, "item_ids"))

    def score(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, C)`` of each user ``user_ids (B,)`` with their candidates ``item_ids (B, C)``."""
        self._check("user_ids", user_ids)
        self._check("item_ids", item_ids, flatten=True)
        if item_ids.dim() != 2 or item_ids.shape[0] != user_ids.shape[0]:
            raise BatchError(
                "item_ids",
                f"score expects candidates of shape ({user_ids.shape[0]}, C), got {tuple(item_ids.shape)}",
            )
        return self.logits(user_ids.unsqueeze(1).expand_as(item_ids), item_ids)


# -- the models -----------------------------------------------------------------------------------
class GMF(PairScorer):
    """Generalized Matrix Factorization: a learned weight per dimension of ``p_u * q_i``.

    Args:
        schema: must declare the sparse features ``user_ids`` and ``item_ids`` (1-based ids).
        config: the sizes, see [`GMFConfig`][recnotes.recall.ncf.GMFConfig].

    Shapes:
        ``forward(batch) -> (B,)`` from ``user_ids (B,)`` and ``item_ids (B,)``;
        ``score(user_ids (B,), item_ids (B, C)) -> (B, C)``;
        ``user_embedding(batch) -> (B, f + 1)`` and ``item_embedding(batch) -> (N, f + 1)``.

    Returns:
        Logits. GMF is a two-tower model: ``user_embedding`` is ``[h * p_u ; b]`` and
        ``item_embedding`` is ``[q_i ; 1]``, so their inner product *is* the logit, Eq. (2), and
        GMF can be served by an inner-product index.

    Example:
        >>> schema = Schema([Feature("user_ids", "sparse", vocab_size=5),
        ...                  Feature("item_ids", "sparse", vocab_size=7)])
        >>> model = GMF(schema, GMFConfig(factors=4))
        >>> batch = {"user_ids": torch.tensor([1, 4]), "item_ids": torch.tensor([2, 6])}
        >>> logits = model(batch)
        >>> u, v = model.user_embedding(batch), model.item_embedding({"item_ids": torch.tensor([2, 6])})
        >>> logits.shape, u.shape, torch.allclose((u * v).sum(-1), logits)
        (torch.Size([2]), torch.Size([2, 5]), True)
    """

    def __init__(self, schema: Schema, config: GMFConfig = GMFConfig()) -> None:
        super().__init__(schema)
        self.config = config
        self.gmf = GMFBranch(schema, config.factors, config.init_std)
        self.output = _output_layer(config.factors)

    # --8<-- [start:gmf]
    def logits(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        phi = self.gmf(user_ids, item_ids)  # (..., f), Eq. (1)
        return self.output(phi).squeeze(-1)  # h^T phi + b, Eq. (2)

    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``[h * p_u ; b]``: ``(B, f + 1)``; its inner product with ``item_embedding`` is the logit."""
        p = self.gmf.embedding.embed("user_ids", self._ids(batch, "user_ids"))  # (B, f)
        bias = self.output.bias.expand(p.shape[0], 1)  # (B, 1)
        return torch.cat([p * self.output.weight[0], bias], dim=-1)  # (B, f + 1)

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``[q_i ; 1]``: ``(N, f + 1)`` for the ``N`` ids in ``batch["item_ids"]``."""
        q = self.gmf.embedding.embed("item_ids", self._ids(batch, "item_ids"))  # (N, f)
        return torch.cat([q, torch.ones_like(q[:, :1])], dim=-1)  # (N, f + 1)

    # --8<-- [end:gmf]


class NCFMLP(PairScorer):
    """The MLP of NCF: a ReLU tower over ``[p_u ; q_i]`` that halves in width at every layer.

    Named ``NCFMLP`` so it is not confused with the building block
    [`recnotes.layers.MLP`][recnotes.layers.MLP], which it uses.

    Args:
        schema: must declare the sparse features ``user_ids`` and ``item_ids`` (1-based ids).
        config: the sizes, see [`NCFMLPConfig`][recnotes.recall.ncf.NCFMLPConfig].

    Shapes:
        ``forward(batch) -> (B,)``; ``score(user_ids (B,), item_ids (B, C)) -> (B, C)``;
        ``user_embedding(batch) -> (B, D)`` and ``item_embedding(batch) -> (N, D)``.

    Returns:
        Logits. The MLP is **not** a two-tower model: ``user_embedding`` and ``item_embedding``
        return the rows of its embedding tables (the tower's input), and their inner product is
        *not* the model's score. Rank candidates with ``score``.

    Example:
        >>> schema = Schema([Feature("user_ids", "sparse", vocab_size=5),
        ...                  Feature("item_ids", "sparse", vocab_size=7)])
        >>> model = NCFMLP(schema, NCFMLPConfig(factors=4))
        >>> model.score(torch.tensor([1, 2]), torch.tensor([[1, 2, 3], [4, 5, 6]])).shape
        torch.Size([2, 3])
    """

    def __init__(self, schema: Schema, config: NCFMLPConfig = NCFMLPConfig()) -> None:
        super().__init__(schema)
        self.config = config
        self.mlp = MLPBranch(schema, config)
        self.output = _output_layer(config.factors)

    def logits(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        return self.output(self.mlp(user_ids, item_ids)).squeeze(-1)  # Eq. (3), then h^T phi + b

    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The user's row of the MLP embedding table, ``(B, D)`` (not a retrieval vector)."""
        return self.mlp.embedding.embed("user_ids", self._ids(batch, "user_ids"))

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The items' rows of the MLP embedding table, ``(N, D)`` (not a retrieval vector)."""
        return self.mlp.embedding.embed("item_ids", self._ids(batch, "item_ids"))


class NeuMF(PairScorer):
    """Neural Matrix Factorization: a GMF and an MLP with separate embeddings, fused at the output.

    Args:
        schema: must declare the sparse features ``user_ids`` and ``item_ids`` (1-based ids).
        config: the sizes, see [`NeuMFConfig`][recnotes.recall.ncf.NeuMFConfig].

    Shapes:
        ``forward(batch) -> (B,)``; ``score(user_ids (B,), item_ids (B, C)) -> (B, C)``;
        ``user_embedding(batch) -> (B, f + D)`` and ``item_embedding(batch) -> (N, f + D)``.

    Returns:
        Logits. Like the MLP, NeuMF is not a two-tower model: ``user_embedding`` and
        ``item_embedding`` return ``[GMF row ; MLP row]`` of the embedding tables, whose inner
        product is not the score. Rank candidates with ``score``.

    Example:
        >>> schema = Schema([Feature("user_ids", "sparse", vocab_size=5),
        ...                  Feature("item_ids", "sparse", vocab_size=7)])
        >>> gmf, mlp = GMF(schema, GMFConfig(factors=4)), NCFMLP(schema, NCFMLPConfig(factors=4))
        >>> model = NeuMF.from_pretrained(gmf, mlp, alpha=0.5)
        >>> batch = {"user_ids": torch.tensor([1, 4]), "item_ids": torch.tensor([2, 6])}
        >>> torch.allclose(model(batch), 0.5 * gmf(batch) + 0.5 * mlp(batch))
        True
    """

    def __init__(self, schema: Schema, config: NeuMFConfig = NeuMFConfig()) -> None:
        super().__init__(schema)
        self.config = config
        self.gmf = GMFBranch(schema, config.factors, config.init_std)
        self.mlp = MLPBranch(schema, config.mlp)
        self.output = _output_layer(2 * config.factors)

    # --8<-- [start:neumf]
    def logits(self, user_ids: torch.Tensor, item_ids: torch.Tensor) -> torch.Tensor:
        phi_gmf = self.gmf(user_ids, item_ids)  # (..., f), Eq. (1)
        phi_mlp = self.mlp(user_ids, item_ids)  # (..., f), Eq. (3)
        phi = torch.cat([phi_gmf, phi_mlp], dim=-1)  # (..., 2f): [GMF ; MLP]
        return self.output(phi).squeeze(-1)  # Eq. (4)

    # --8<-- [end:neumf]

    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``[GMF row ; MLP row]`` of the user embedding tables, ``(B, f + D)`` (not a retrieval vector)."""
        ids = self._ids(batch, "user_ids")
        parts = (
            self.gmf.embedding.embed("user_ids", ids),
            self.mlp.embedding.embed("user_ids", ids),
        )
        return torch.cat(parts, dim=-1)

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """``[GMF row ; MLP row]`` of the item embedding tables, ``(N, f + D)`` (not a retrieval vector)."""
        ids = self._ids(batch, "item_ids")
        parts = (
            self.gmf.embedding.embed("item_ids", ids),
            self.mlp.embedding.embed("item_ids", ids),
        )
        return torch.cat(parts, dim=-1)

    # --8<-- [start:pretrained]
    @classmethod
    def from_pretrained(cls, gmf: GMF, mlp: NCFMLP, alpha: float = 0.5) -> NeuMF:
        """A NeuMF initialised from a trained GMF and a trained MLP (paper, Sec. 3.4.1).

        The embeddings and the tower are copied; the output layer is ``h = [alpha * h_GMF ;
        (1 - alpha) * h_MLP]`` and ``b = alpha * b_GMF + (1 - alpha) * b_MLP``, Eq. (5), so the new
        model starts at exactly ``alpha * z_GMF + (1 - alpha) * z_MLP``. The paper uses
        ``alpha = 0.5``. The two models are not changed.
        """
        if not isinstance(gmf, GMF) or not isinstance(mlp, NCFMLP):
            raise TypeError(
                f"from_pretrained takes a GMF and an NCFMLP, got {type(gmf).__name__} and {type(mlp).__name__}"
            )
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha weighs GMF against MLP and must lie in [0, 1], got {alpha}")
        if gmf.config.factors != mlp.config.factors:
            raise ValueError(
                f"GMF has {gmf.config.factors} predictive factors and the MLP {mlp.config.factors}; "
                "NeuMF fuses two branches of the same size"
            )
        for name in _IDS:
            if gmf.schema[name].vocab_size != mlp.schema[name].vocab_size:
                raise ValueError(f"GMF and MLP were built for different '{name}' vocabularies")
        m = mlp.config
        model = cls(
            gmf.schema, NeuMFConfig(m.factors, m.num_layers, m.embed_dim, m.dropout, m.init_std)
        )
        model.gmf.load_state_dict(gmf.gmf.state_dict())
        model.mlp.load_state_dict(mlp.mlp.state_dict())
        with torch.no_grad():
            h = torch.cat([alpha * gmf.output.weight, (1 - alpha) * mlp.output.weight], dim=1)
            model.output.weight.copy_(h)  # (1, 2f): [GMF ; MLP], Eq. (5)
            model.output.bias.copy_(alpha * gmf.output.bias + (1 - alpha) * mlp.output.bias)
        return model

    # --8<-- [end:pretrained]


# -- registration ---------------------------------------------------------------------------------
PAPER = Paper(
    title="Neural Collaborative Filtering",
    authors="He, Liao, Zhang, Nie, Hu, Chua",
    venue="WWW",
    year=2017,
    url="https://arxiv.org/abs/1708.05031",
)

_TINY_SCHEMA = Schema(
    [
        Feature("user_ids", "sparse", vocab_size=8),
        Feature("item_ids", "sparse", vocab_size=10),
        Feature("label", "label"),
    ]
)


def _tiny_batch() -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    return {
        "user_ids": torch.randint(1, 8, (6,), generator=gen),
        "item_ids": torch.randint(1, 10, (6,), generator=gen),
        "label": torch.tensor([1.0, 0.0, 0.0, 1.0, 0.0, 1.0]),
    }


def _tiny_gmf() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    return GMF(_TINY_SCHEMA, GMFConfig(factors=4)), _tiny_batch()


def _tiny_mlp() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    return NCFMLP(_TINY_SCHEMA, NCFMLPConfig(factors=4, num_layers=2)), _tiny_batch()


def _tiny_neumf() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    return NeuMF(_TINY_SCHEMA, NeuMFConfig(factors=4, num_layers=2)), _tiny_batch()


GMF_SPEC = register(
    ModelSpec(
        name="gmf",
        display_name="GMF",
        stage="recall",
        family="recall",
        paper=PAPER,
        cls=GMF,
        config_cls=GMFConfig,
        tiny=_tiny_gmf,
        summary="Matrix factorisation with a learned weight per dimension of the element-wise product.",
        status="implemented",
        note="recall/ncf.md",
    )
)

NCF_MLP_SPEC = register(
    ModelSpec(
        name="ncf-mlp",
        display_name="MLP (NCF)",
        stage="recall",
        family="recall",
        paper=PAPER,
        cls=NCFMLP,
        config_cls=NCFMLPConfig,
        tiny=_tiny_mlp,
        summary="A ReLU tower over the concatenated user and item embeddings learns the interaction.",
        status="implemented",
        note="recall/ncf.md",
    )
)

NEUMF_SPEC = register(
    ModelSpec(
        name="neumf",
        display_name="NeuMF",
        stage="recall",
        family="recall",
        paper=PAPER,
        cls=NeuMF,
        config_cls=NeuMFConfig,
        tiny=_tiny_neumf,
        summary="GMF and MLP side by side, fused in one output layer; optionally initialised from both.",
        status="implemented",
        note="recall/ncf.md",
    )
)
