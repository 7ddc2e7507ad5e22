"""AFM: the attentional factorization machine, FM with a learned weight for every pair of fields.

Paper: *Attentional Factorization Machines: Learning the Weight of Feature Interactions via
Attention Networks*, Jun Xiao, Hao Ye, Xiangnan He, Hanwang Zhang, Fei Wu and Tat-Seng Chua,
IJCAI 2017, https://arxiv.org/abs/1708.04617.

Stage: ranking (CTR prediction).

The idea: FM gives every pair of fields the same weight, so a useless pair (user age x app
version) adds as much noise as a useful one (user x app). AFM keeps every pair's element-wise
product ``v_i * v_j`` as a vector, scores it with a one-layer attention network, normalises the
scores with a softmax over the pairs, and pools the products with those weights. A projection
``p`` turns the pooled vector into the second-order part of the logit. The weights depend on the
row (they are computed from the embeddings), so a pair matters more in some contexts than others,
and a reader can see which pairs the model relied on.

Shape legend: ``B`` batch, ``L`` sequence length, ``F`` interacting fields (sparse + sequence
fields + dense columns), ``P = F (F - 1) / 2`` field pairs, ``D`` embedding dim, ``T`` attention
factor (hidden width of the attention network).

Differences from the paper:

* The inputs are fields, as in recnotes' FM: a sparse field is one-hot, a sequence field is the
  sum of its ids' vectors (pairs inside a sequence are left out), a dense column ``c`` enters as
  ``x_c v_c`` (and ``w_c x_c`` in the first-order term). An unknown id (0) embeds to zero; its
  pairs are zero vectors that still take part in the softmax, where the paper only pairs the
  non-zero features of a row.
* Trained with binary cross-entropy on the logit; the paper's experiments use the squared loss.
* The L2 penalty on the attention matrix ``W`` is not part of the logit: ``regularization()``
  returns ``lambda * ||W||^2`` and the training loss must add it (``afm_loss`` does).
* ``p`` starts at ones and ``W`` from a Glorot-scaled normal, as in the authors' code; the paper
  can initialise the embeddings from a trained FM (pre-training), which recnotes does not do.
  ``init="xavier"`` with ``init_std=1e-4`` is FuxiCTR's scheme instead: on Frappe with ``T = 128``
  it keeps learning where the authors' scheme stalls near a validation AUC of 0.95 (see the note).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema, tiny_ctr_batch
from recnotes.layers import FeaturesLinear, FieldVectors, pair_products, xavier_linears_
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["AFMConfig", "AFM", "afm_loss", "pair_scores"]


@dataclass(frozen=True)
class AFMConfig:
    """Hyper-parameters of :class:`AFM`.

    Example:
        >>> AFMConfig(attention_dim=16).attention_dim
        16
        >>> AFMConfig(attention_l2=-1.0)
        Traceback (most recent call last):
        ...
        ValueError: attention_l2 is a penalty weight and must be >= 0, got -1.0
    """

    embed_dim: int = 256  # paper: 256 factors (authors' README: "256 in our paper")
    attention_dim: int = 8  # authors' example command (hidden_factor [8, 256]): t = 8
    attention_dropout: float = 0.0  # authors' code: dropout on the weights a_ij, keep 1.0
    dropout: float = 0.5  # authors' example command: keep 0.5 on the attention-pooled vector
    attention_l2: float = (
        0.0  # lambda of Eq. (7); see the note: the paper's 2.0 is on a summed loss
    )
    init_std: float = 0.01  # embedding initialisation N(0, 0.01^2), as in the authors' code
    # "authors": W, b ~ Glorot-scaled normal, h ~ N(0, 1), p = 1 (the authors' code, t = 8 there);
    # "xavier": W, h, p Xavier-normal and b = 0 (FuxiCTR's scheme, behind the BARS numbers)
    init: str = "authors"
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if self.attention_dim < 1:
            raise ValueError(f"attention_dim must be at least 1, got {self.attention_dim}")
        for name in ("attention_dropout", "dropout"):
            value = getattr(self, name)
            if not 0.0 <= value < 1.0:
                raise ValueError(f"{name} is a probability in [0, 1), got {value}")
        if self.attention_l2 < 0:
            raise ValueError(
                f"attention_l2 is a penalty weight and must be >= 0, got {self.attention_l2}"
            )
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")
        if self.init not in ("authors", "xavier"):
            raise ValueError(f"init must be 'authors' or 'xavier', got {self.init!r}")


class _PairScores(torch.autograd.Function):
    """``h^T ReLU(W x + b)`` for every row ``x`` of a ``(N, D)`` matrix, with its own backward.

    The same numbers as ``attention_out(relu(attention_in(x)))``; written out because the attention
    network runs on ``B * P`` rows (184,320 for Frappe's batch of 4,096), and which GEMM layout is
    fast for these tall, thin shapes depends on ``D`` against ``T``. ``grad_W`` sums over all
    ``N`` rows; on CPU (MKL) it is fast when the computed matrix has the fewer rows: ``(x^T g)^T``
    when ``D < T`` (BARS: D 10, T 128, 10x faster than autograd's ``g^T x``) and ``g^T x`` when
    ``D > T`` (the papers' D 256, T 8, where ``(x^T g)^T`` is 10x slower). ``grad_x`` follows the
    same switch. The backward also reuses the hidden activations' memory instead of allocating
    three more ``(N, T)`` tensors.
    """

    @staticmethod
    def forward(ctx, x, weight, bias, h):  # noqa: D102 (see the class)
        hidden = torch.nn.functional.linear(x, weight, bias).clamp_(min=0)  # (N, T)
        ctx.save_for_backward(x, weight, bias, h)
        ctx.hidden = hidden  # an intermediate, kept outside autograd's version check: see below
        ctx.spent = False
        return hidden @ h  # (N,)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):  # noqa: D102
        x, weight, bias, h = ctx.saved_tensors
        hidden = ctx.hidden
        if ctx.spent:  # a second backward (retain_graph): the first one overwrote `hidden`
            hidden = torch.nn.functional.linear(x, weight, bias).clamp_(min=0)
        ctx.spent = True
        grad_h = hidden.t() @ grad  # (T,)
        # dL/d(Wx + b) = grad * h where the ReLU was active; built in the hidden tensor's memory
        g = hidden.sign_().mul_(h).mul_(grad.unsqueeze(1))  # (N, T)
        if x.shape[1] > weight.shape[0]:  # D > T: (T, D) and (N, D) products as written
            grad_w, grad_x = g.t() @ x, g @ weight
        else:  # D <= T: the same products computed transposed, (D, T) and (D, N)
            grad_w, grad_x = (x.t() @ g).t(), (weight.t() @ g.t()).t()
        return grad_x, grad_w, g.sum(0), grad_h


def pair_scores(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, h: torch.Tensor):
    """Eq. (4) on a ``(N, D)`` matrix of pair products: ``h^T ReLU(W x + b)``, shape ``(N,)``.

    ``weight`` is ``W`` ``(T, D)``, ``bias`` is ``b`` ``(T,)``, ``h`` is ``(T,)``. Gradients flow to all
    four. The first backward pass reuses the forward's activations' memory; a second one
    (``retain_graph=True``) recomputes them.

    Example:
        >>> x, W, b, h = torch.randn(5, 3), torch.randn(4, 3), torch.randn(4), torch.randn(4)
        >>> torch.allclose(pair_scores(x, W, b, h), torch.relu(x @ W.T + b) @ h)
        True
    """
    return _PairScores.apply(x, weight, bias, h)


class AFM(nn.Module):
    """The attentional factorization machine: first-order term plus attention-pooled pairs.

    Every non-label feature of the schema is an input. Sparse and sequence fields are embedded (a
    sequence is the sum of its ids' vectors); each column of a dense feature gives its vector
    times its value, and its value times a weight in the first-order term.

    Args:
        schema: the features; they must give at least two fields (sparse, sequence or dense
            columns) to form a pair.
        config: hyper-parameters (:class:`AFMConfig`).

    Shapes:
        * ``field_vectors(batch)``: ``(B, F, D)``, the set ``{x_i v_i}`` (Eq. 2).
        * ``attention(batch)``: ``(B, P)``, the weights ``a_ij`` of the pairs (Eq. 5); each row
          sums to one. Pairs are in :func:`recnotes.layers.pair_indices` order.
        * ``forward(batch)``: ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_afm()
        >>> model(batch).shape, model.attention(batch).shape  # 5 fields -> 10 pairs
        (torch.Size([6]), torch.Size([6, 10]))
    """

    def __init__(self, schema: Schema, config: AFMConfig = AFMConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        self.fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        dense_width = sum(schema[name].dim for name in self.dense)
        self.num_fields = len(self.fields) + dense_width
        if self.num_fields < 2:
            raise ValueError(
                "AFM pairs fields and needs at least two (sparse, sequence or dense columns); "
                f"the schema gives {self.num_fields}"
            )
        self._inputs = schema.select(self.fields + self.dense)  # what check_inputs validates
        D, T = config.embed_dim, config.attention_dim
        self.linear = FeaturesLinear(schema)  # w0, w_i
        self.vectors = FieldVectors(schema, D, init_std=config.init_std)  # v_i, v_c
        self.attention_in = nn.Linear(D, T)  # W and b of Eq. (4)
        self.attention_out = nn.Linear(T, 1, bias=False)  # h of Eq. (4)
        self.attention_dropout = nn.Dropout(config.attention_dropout)
        self.dropout = nn.Dropout(config.dropout)
        self.projection = nn.Linear(D, 1, bias=False)  # p of Eq. (6)
        self._init_attention(config.init)

    def _init_attention(self, scheme: str) -> None:
        """Initialise ``W``, ``b``, ``h`` and ``p`` (see ``AFMConfig.init``)."""
        if scheme == "xavier":
            for layer in (self.attention_in, self.attention_out, self.projection):
                xavier_linears_(layer)  # Xavier-normal W, h, p; b = 0
            return
        D, T = self.config.embed_dim, self.config.attention_dim
        glorot = (2.0 / (D + T)) ** 0.5
        nn.init.normal_(self.attention_in.weight, std=glorot)
        nn.init.normal_(self.attention_in.bias, std=glorot)
        nn.init.normal_(self.attention_out.weight, std=1.0)
        nn.init.ones_(self.projection.weight)  # p = 1 starts as FM's plain sum of the products

    def field_vectors(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (2): one vector ``x_i v_i`` per field, ``(B, F, D)`` (``recnotes.layers.FieldVectors``)."""
        return self.vectors(batch)

    @property
    def embedding(self) -> nn.Module:
        """The id vectors ``v_i`` (a ``FeatureEmbedding``)."""
        return self.vectors.embedding

    @property
    def dense_vectors(self) -> nn.Parameter | None:
        """The vectors ``v_c`` of the dense columns, ``(P, D)``, or None."""
        return self.vectors.dense_vectors

    # --8<-- [start:attention]
    def pairwise(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (3): the pair-wise interaction layer ``{x_i v_i * x_j v_j}``, ``(B, P, D)``."""
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        v = self.field_vectors(batch)  # (B, F, D)
        return pair_products(v)  # (B, P, D), pairs i < j in pair_indices order

    def attention_weights(self, products: torch.Tensor) -> torch.Tensor:
        """Eqs. (4)-(5): ``a_ij = softmax_ij(h^T ReLU(W (v_i * v_j) + b))``, ``(B, P, D) -> (B, P)``."""
        W, b, h = self.attention_in.weight, self.attention_in.bias, self.attention_out.weight
        scores = pair_scores(products.reshape(-1, products.shape[-1]), W, b, h.view(-1))  # (B*P,)
        return torch.softmax(scores.view(products.shape[:-1]), dim=1)  # (B, P), rows sum to one

    # --8<-- [end:attention]

    def attention(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """The attention weights of every field pair, ``(B, P)``: which pairs a prediction used."""
        return self.attention_weights(self.pairwise(batch))

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        products = self.pairwise(batch)  # Eq. (3): (B, P, D)
        a = self.attention_dropout(self.attention_weights(products))  # Eqs. (4)-(5): (B, P)
        pooled = (a.unsqueeze(-1) * products).sum(dim=1)  # Eq. (6): (B, P, D) -> (B, D)
        second_order = self.projection(self.dropout(pooled)).squeeze(-1)  # Eq. (6): p^T, (B,)
        return self.linear(batch) + second_order  # Eq. (6): (B,) logits

    # --8<-- [end:forward]

    # --8<-- [start:regularization]
    def regularization(self) -> torch.Tensor:
        """Eq. (7): ``lambda * ||W||^2`` on the attention matrix; the training loss adds it."""
        return self.config.attention_l2 * self.attention_in.weight.pow(2).sum()

    # --8<-- [end:regularization]


def afm_loss(model: AFM, batch: Mapping[str, torch.Tensor], label: str = "label") -> torch.Tensor:
    """LogLoss of ``model(batch)`` plus ``model.regularization()``: a ``loss_fn`` for the Trainer.

    Example:
        >>> model, batch = tiny_afm()
        >>> bool(afm_loss(model, batch) > 0)
        True
    """
    logits = model(batch)
    bce = nn.functional.binary_cross_entropy_with_logits(logits.float(), batch[label].float())
    return bce + model.regularization()


def tiny_afm() -> tuple[AFM, dict[str, torch.Tensor]]:
    """A tiny AFM and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    config = AFMConfig(embed_dim=4, attention_dim=3, init_std=0.1)
    return AFM(schema, config), batch


SPEC = register(
    ModelSpec(
        name="afm",
        display_name="AFM",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="Attentional Factorization Machines: Learning the Weight of Feature "
            "Interactions via Attention Networks",
            authors="Xiao et al.",
            venue="IJCAI",
            year=2017,
            url="https://arxiv.org/abs/1708.04617",
        ),
        cls=AFM,
        config_cls=AFMConfig,
        tiny=tiny_afm,
        summary="FM whose field pairs are weighted by an attention network before they are summed.",
        status="implemented",
        note="ranking/afm.md",
    )
)
