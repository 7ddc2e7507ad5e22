"""Pre-rank MLP: a small network over the retriever's user and item vectors and its score.

Paper: the pre-ranking stage as described in *COLD: Towards the Next Generation of Pre-Ranking
System*, Zhe Wang, Liqin Zhao, Biye Jiang, Guorui Zhou, Xiaoqiang Zhu and Kun Gai, DLP-KDD 2020,
https://arxiv.org/abs/2007.16122 (Sec. 2 reviews the pre-ranking models this file follows).

Stage: pre-ranking (粗排), family ``ranking``.

The idea: recall hands over a few hundred candidates, too many for the full ranking model, which
reads every raw feature. A pre-ranker scores all of them cheaply so that ranking sees only the best
ones. The cheapest pre-ranker is the retriever's own inner product; COLD argues for an MLP instead,
because an MLP can learn interactions that a dot product cannot. This model is the simplest such
MLP: it reads the vectors the retriever has already computed (the user vector, the candidate's item
vector) and the retriever's score, concatenates them, and maps them to a click logit. Nothing is
embedded here, so its cost per candidate is one small MLP pass.

Shape legend: ``B`` batch (user-candidate pairs), ``D`` retriever vector width, ``P`` total width
of the dense inputs (``2 D + 1`` in the pipeline), ``H`` a hidden width.

Differences from the paper:

* COLD is a seven-layer MLP over the raw features with a squeeze-and-excitation block that selects
  features, plus engineering (feature computation in parallel, column-wise storage, float16) that
  keeps it inside a latency budget. Here the inputs are the retriever's outputs only, and the MLP is
  two layers by default: the recnotes pipeline re-uses what recall computed rather than embedding
  the raw features again.
* COLD is trained online on the impression logs. Here it is trained offline on implicit feedback:
  each training interaction is a positive, with a uniformly drawn unseen item and an item of that
  interaction's recall list as negatives (``recnotes.pipeline``), and binary cross-entropy.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Feature, Schema
from recnotes.layers import MLP
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["PreRankMLPConfig", "PreRankMLP", "prerank_schema"]

_ACTIVATIONS = ("relu", "prelu", "gelu", "tanh", "sigmoid")


@dataclass(frozen=True)
class PreRankMLPConfig:
    """Hyper-parameters of :class:`PreRankMLP`.

    Example:
        >>> PreRankMLPConfig(hidden=(32,)).hidden
        (32,)
        >>> PreRankMLPConfig(hidden=())
        Traceback (most recent call last):
        ...
        ValueError: hidden needs at least one layer (a pre-ranker without one is a linear model), got ()
    """

    hidden: tuple[int, ...] = (64, 32)  # recnotes choice: two small layers keep it cheap
    activation: str = "relu"  # COLD uses ReLU-family activations between its layers
    dropout: float = 0.0  # none: the inputs are few and already trained
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):  # JSON configs hold lists
            object.__setattr__(self, "hidden", tuple(self.hidden))
        if not self.hidden:
            raise ValueError(
                "hidden needs at least one layer (a pre-ranker without one is a linear model), "
                f"got {self.hidden}"
            )
        if any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.hidden):
            raise ValueError(f"every hidden width must be an integer >= 1, got {self.hidden}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}")


def prerank_schema(dim: int) -> Schema:
    """The pipeline's pre-rank inputs for ``dim``-wide retriever vectors (Eq. 1's three parts).

    Example:
        >>> prerank_schema(8).names()
        ['user_vector', 'item_vector', 'recall_score', 'label']
    """
    return Schema(
        [
            Feature("user_vector", "dense", dim=dim),
            Feature("item_vector", "dense", dim=dim),
            Feature("recall_score", "dense"),
            Feature("label", "label"),
        ]
    )


class PreRankMLP(nn.Module):
    """Pre-ranking logits from dense inputs: ``MLP([u; v; s])``.

    Every dense feature of the schema is an input, in schema order (the pipeline declares the
    retriever's user vector, the item vector and the recall score: :func:`prerank_schema`).

    Args:
        schema: the features; needs at least one dense feature.
        config: hyper-parameters (:class:`PreRankMLPConfig`).

    Shapes:
        * ``forward(batch)``: dense inputs ``(B, dim)`` or ``(B,)`` each -> ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities).

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds NaN; the message names the feature.

    Example:
        >>> model, batch = tiny_prerank_mlp()
        >>> model(batch).shape, model.input_dim
        (torch.Size([6]), 9)
    """

    def __init__(self, schema: Schema, config: PreRankMLPConfig = PreRankMLPConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        self.dense = [f.name for f in schema if f.kind == "dense"]
        if not self.dense:
            raise ValueError("PreRankMLP needs at least one dense feature (e.g. prerank_schema(D))")
        self._inputs = schema.select(self.dense)
        self.input_dim = sum(schema[name].dim for name in self.dense)
        self.mlp = MLP(
            self.input_dim,
            config.hidden,
            out_dim=1,
            activation=config.activation,
            dropout=config.dropout,
        )

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature
        blocks = []
        for name in self.dense:
            x = batch[name].float()
            blocks.append(x.unsqueeze(-1) if x.dim() == 1 else x)  # (B,) -> (B, 1)
        h0 = torch.cat(blocks, dim=-1)  # Eq. (1): (B, P) = [u; v; s]
        return self.mlp(h0).squeeze(-1)  # Eq. (2): (B, H) ... -> (B,) logits

    # --8<-- [end:forward]


def tiny_prerank_mlp() -> tuple[PreRankMLP, dict[str, torch.Tensor]]:
    """A tiny pre-ranker over 4-wide vectors and a matching batch of six pairs."""
    gen = torch.Generator().manual_seed(0)
    u, v = torch.randn(6, 4, generator=gen), torch.randn(6, 4, generator=gen)
    batch = {
        "user_vector": u,
        "item_vector": v,
        "recall_score": (u * v).sum(-1),
        "label": torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0, 1.0]),
    }
    return PreRankMLP(prerank_schema(4), PreRankMLPConfig(hidden=(8, 4))), batch


SPEC = register(
    ModelSpec(
        name="prerank-mlp",
        display_name="Pre-rank MLP",
        stage="prerank",
        family="ranking",
        paper=Paper(
            title="COLD: Towards the Next Generation of Pre-Ranking System",
            authors="Wang et al.",
            venue="DLP-KDD",
            year=2020,
            url="https://arxiv.org/abs/2007.16122",
        ),
        cls=PreRankMLP,
        config_cls=PreRankMLPConfig,
        tiny=tiny_prerank_mlp,
        summary="A small MLP over the retriever's user vector, item vector and score: "
        "cheap scoring of every recall candidate.",
        status="implemented",
        note="prerank/mlp.md",
    )
)
