"""PNN: a product layer between the embeddings and the MLP (IPNN, OPNN and PNN*).

Paper: *Product-based Neural Networks for User Response Prediction*, Yanru Qu, Han Cai, Kan Ren,
Weinan Zhang, Yong Yu, Ying Wen and Jun Wang, ICDM 2016, https://arxiv.org/abs/1611.00144.

Stage: ranking (CTR prediction).

The idea: an MLP on concatenated embeddings combines fields by adding weighted inputs, and
multiplicative interactions are hard for it to approximate. PNN computes the products of field
embeddings explicitly and feeds them to the first hidden layer next to the embeddings themselves:
``l_1 = ReLU(l_z + l_p + b_1)``, where ``l_z`` is a linear map of the embeddings (the *linear
signal*) and ``l_p`` a linear map of the products (the *product signal*). IPNN uses the inner
product of every pair of fields, OPNN the outer product, PNN* both.

Shape legend: ``B`` batch, ``F`` embedded fields (sparse plus sequence), ``D`` embedding dim,
``Q = F (F - 1) / 2`` field pairs, ``P`` total width of the dense features, ``H`` a hidden width.

Dense features join the linear signal: they are appended to the flattened embeddings ``z`` and take
no part in the products.

Differences from the paper:

* IPNN feeds the ``Q`` pairwise inner products ``<e_i, e_j>``, ``i < j``, to the first hidden layer
  with a full weight matrix, as BARS's IPNN (the Frappe target) and most open implementations do.
  The paper's product matrix also holds the diagonal ``<e_i, e_i>``, and its experiments replace
  the full weight with a rank-1 (or rank-K) decomposition ``W_p^n = theta^n theta^n^T``, which
  computes ``l_p^n = ||sum_i theta_i^n e_i||^2`` in ``O(F D)`` per unit instead of ``O(F^2)``.
  On ten fields the explicit pairs are cheap, and the full weight is the more general model.
* OPNN follows the paper's superposition: the sum of all outer products ``e_i e_j^T`` equals
  ``e_S e_S^T`` with ``e_S = sum_i e_i``, one ``D x D`` matrix instead of ``F^2`` of them.
* Sequence fields are mean-pooled (``FeatureEmbedding``); the paper's fields are single ids.
* Dropout defaults to none and early stopping regularises; the paper tunes dropout.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema, tiny_ctr_batch
from recnotes.layers import MLP, FeatureEmbedding, pair_products, xavier_linears_
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["PNNConfig", "PNN", "inner_products", "outer_product_sum"]

_PRODUCTS = ("inner", "outer", "both")
_ACTIVATIONS = ("relu", "prelu", "gelu", "tanh", "sigmoid")


@dataclass(frozen=True)
class PNNConfig:
    """Hyper-parameters of :class:`PNN`.

    Example:
        >>> PNNConfig(product="both").product
        'both'
        >>> PNNConfig(product="kernel")
        Traceback (most recent call last):
        ...
        ValueError: product must be 'inner' (IPNN), 'outer' (OPNN) or 'both' (PNN*), got 'kernel'
    """

    embed_dim: int = 10  # BARS's Frappe setting (the IPNN target); recnotes default
    hidden: tuple[int, ...] = (400, 400, 400)  # hidden[0] is the paper's D_1 (recnotes choice)
    product: str = "inner"  # IPNN, the variant of the BARS Frappe target
    activation: str = "relu"  # paper, Eq. (4)
    dropout: float = 0.0  # none: early stopping on validation AUC is the regulariser
    batch_norm: bool = False  # off: rows stay independent in training as in serving
    init_std: float = 0.01  # standard deviation of the embedding initialisation (recnotes default)
    # MLP weights: "torch" is PyTorch's default, U(+-1/sqrt(fan_in)) for weights and biases;
    # "xavier" is Xavier-normal weights and zero biases, FuxiCTR's scheme behind the BARS numbers
    init: str = "torch"
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):  # JSON configs (checkpoints, --set) hold lists
            object.__setattr__(self, "hidden", tuple(self.hidden))
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"every hidden width must be at least 1, got {self.hidden}")
        if self.product not in _PRODUCTS:
            raise ValueError(
                "product must be 'inner' (IPNN), 'outer' (OPNN) or 'both' (PNN*), "
                f"got {self.product!r}"
            )
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")
        if self.init not in ("torch", "xavier"):
            raise ValueError(f"init must be 'torch' or 'xavier', got {self.init!r}")


# --8<-- [start:products]
def inner_products(e: torch.Tensor) -> torch.Tensor:
    """Eq. (3): ``<e_i, e_j>`` for every field pair ``i < j``, row-major: ``(B, F, D) -> (B, Q)``.

    Example:
        >>> e = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]])
        >>> inner_products(e).tolist()  # <e1,e2>, <e1,e3>, <e2,e3>
        [[11.0, 17.0, 39.0]]
    """
    return pair_products(e).sum(dim=-1)  # (B, Q, D) -> (B, Q), pairs in pair_indices order


def outer_product_sum(e: torch.Tensor) -> torch.Tensor:
    """Eq. (4): ``sum_i sum_j e_i e_j^T = e_S e_S^T`` with ``e_S = sum_i e_i``, flattened: ``(B, D * D)``.

    Example:
        >>> e = torch.tensor([[[1.0, 0.0], [1.0, 2.0]]])  # e_S = (2, 2)
        >>> outer_product_sum(e).tolist()
        [[4.0, 4.0, 4.0, 4.0]]
    """
    s = e.sum(dim=1)  # (B, D): the paper's superposition, F^2 matrices folded into one
    return (s.unsqueeze(2) * s.unsqueeze(1)).flatten(1)  # (B, D, D) -> (B, D * D)


# --8<-- [end:products]


class PNN(nn.Module):
    """Product-based Neural Network: IPNN (``product="inner"``), OPNN (``"outer"``), PNN* (``"both"``).

    The product layer's output ``[z; dense; p]`` (embeddings, dense features, products) feeds an
    MLP whose first hidden layer is the paper's ``l_1 = ReLU(W_z z + W_p p + b_1)``: one linear
    layer over the concatenation is exactly the sum of the two linear signals.

    Args:
        schema: the features; needs at least one sparse or sequence feature (two for inner
            products).
        config: hyper-parameters (:class:`PNNConfig`).

    Shapes:
        * ``product_layer(batch)``: ``(B, F * D + P + W_p)`` with ``W_p = Q`` (inner),
          ``D * D`` (outer) or ``Q + D * D`` (both).
        * ``forward(batch)``: ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_pnn()
        >>> model(batch).shape, model.input_dim == 3 * 4 + 2 + 3
        (torch.Size([6]), True)
    """

    def __init__(self, schema: Schema, config: PNNConfig = PNNConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        self.fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        if not self.fields:
            raise ValueError("PNN needs at least one sparse or sequence feature to embed")
        if config.product in ("inner", "both") and len(self.fields) < 2:
            raise ValueError(
                f"inner products need at least two embedded fields, the schema has {self.fields}"
            )
        self._inputs = schema.select(self.fields + self.dense)  # what check_inputs validates
        self.embedding = FeatureEmbedding(
            schema, config.embed_dim, self.fields, init_std=config.init_std
        )
        num_fields, dim = len(self.fields), config.embed_dim
        product_width = {
            "inner": num_fields * (num_fields - 1) // 2,
            "outer": dim * dim,
            "both": num_fields * (num_fields - 1) // 2 + dim * dim,
        }[config.product]
        dense_width = sum(schema[name].dim for name in self.dense)
        self.input_dim = num_fields * dim + dense_width + product_width
        self.mlp = MLP(
            self.input_dim,
            config.hidden,
            out_dim=1,
            activation=config.activation,
            dropout=config.dropout,
            batch_norm=config.batch_norm,
        )
        if config.init == "xavier":
            xavier_linears_(self.mlp)

    # --8<-- [start:product_layer]
    def product_layer(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eqs. (1)-(4): ``[z; dense; p]``, what the first hidden layer reads."""
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        e = self.embedding(batch)  # Eq. (1): (B, F, D)
        blocks = [e.flatten(1)]  # Eq. (2): the linear signal's input z, (B, F * D)
        for name in self.dense:
            x = batch[name].to(e.dtype)
            blocks.append(x.unsqueeze(-1) if x.dim() == 1 else x)  # (B,) -> (B, 1)
        if self.config.product in ("inner", "both"):
            blocks.append(inner_products(e))  # Eq. (3): (B, Q)
        if self.config.product in ("outer", "both"):
            blocks.append(outer_product_sum(e))  # Eq. (4): (B, D * D)
        return torch.cat(blocks, dim=-1)  # (B, F * D + P + W_p)

    # --8<-- [end:product_layer]

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        h0 = self.product_layer(batch)  # (B, F * D + P + W_p)
        return self.mlp(h0).squeeze(-1)  # Eqs. (5)-(6): l_1 = ReLU(W_z z + W_p p + b_1), ... (B,)

    # --8<-- [end:forward]


def tiny_pnn(product: str = "inner") -> tuple[PNN, dict[str, torch.Tensor]]:
    """A tiny model and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    config = PNNConfig(embed_dim=4, hidden=(8, 4), product=product, init_std=0.1)
    return PNN(schema, config), batch


SPEC = register(
    ModelSpec(
        name="pnn",
        display_name="PNN",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="Product-based Neural Networks for User Response Prediction",
            authors="Qu et al.",
            venue="ICDM",
            year=2016,
            url="https://arxiv.org/abs/1611.00144",
        ),
        cls=PNN,
        config_cls=PNNConfig,
        tiny=lambda: tiny_pnn("both"),  # PNN*: the contract test then covers both products
        summary="Inner or outer products of field embeddings, next to the embeddings, into an MLP.",
        status="reproduced",  # results/ml-1m/pnn.json within 0.005 of DCN-V2 Table 6 (Frappe: 0.004 short)
        note="ranking/pnn.md",
    )
)
