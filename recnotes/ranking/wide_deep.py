"""Wide&Deep: a linear model over ids and crossed ids, trained jointly with an Embedding&MLP network.

Paper: *Wide & Deep Learning for Recommender Systems*, Heng-Tze Cheng, Levent Koc, Jeremiah Harmsen,
Tal Shaked, Tushar Chandra, Hrishi Aradhye, Glen Anderson, Greg Corrado, Wei Chai, Mustafa Ispir,
Rohan Anil, Zakaria Haque, Lichan Hong, Vihan Jain, Xiaobing Liu and Hemal Shah, DLRS 2016
(workshop at RecSys), https://arxiv.org/abs/1606.07792.

Stage: ranking (CTR prediction).

The idea: a linear model over one-hot ids *memorises*: it learns one weight per id, and with
cross-product features (``AND(installed=netflix, shown=pandora)``) one weight per combination seen in
the logs. A deep network over embeddings *generalises* to combinations never seen, but may
over-generalise when the true user-item matrix is sparse and high-rank. Wide&Deep adds the two logits
and trains both parts together on one loss, so the wide part only has to correct what the deep part
gets wrong.

Shape legend: ``B`` batch, ``F`` embedded fields (sparse plus sequence), ``D`` embedding dim, ``P``
total width of the dense features, ``C`` declared crosses, ``H`` a hidden width.

Dense features go into both parts: one weight each in the wide part, and appended to the deep input.

Differences from the paper:

* One optimiser (the Trainer's Adam) for both parts; the paper trains the wide part with FTRL and
  L1 regularisation and the deep part with AdaGrad.
* Cross-product transformations are pairs of sparse fields declared in the config, hashed into
  ``cross_buckets`` ids per pair (exact, collision-free, whenever ``V_a * V_b <= cross_buckets``);
  the paper's crosses may combine any number of binary features and are chosen by hand.
* Sequence fields are mean-pooled for the deep part (``FeatureEmbedding``) and enter the wide part as
  a bag of ids; the paper's app-install history is a set of binary features in the wide part only.
* The paper's continuous features are normalised to quantiles first; here dense features are used as
  given (normalise them in the data pipeline).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Feature, Schema, tiny_ctr_batch
from recnotes.layers import MLP, FeatureEmbedding, FeaturesLinear
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["WideDeepConfig", "WideDeep", "hash_cross"]

_ACTIVATIONS = ("relu", "prelu", "gelu", "tanh", "sigmoid")


@dataclass(frozen=True)
class WideDeepConfig:
    """Hyper-parameters of :class:`WideDeep`.

    Example:
        >>> WideDeepConfig(crosses=[["user_ids", "item_ids"]]).crosses
        (('user_ids', 'item_ids'),)
        >>> WideDeepConfig(crosses=(("user_ids",),))
        Traceback (most recent call last):
        ...
        ValueError: every cross is a pair of two different sparse fields, got ('user_ids',)
    """

    embed_dim: int = 32  # paper, Sec. 4: a 32-dimensional embedding per categorical feature
    hidden: tuple[int, ...] = (1024, 512, 256)  # paper, Fig. 4: three ReLU layers
    activation: str = "relu"  # paper, Sec. 4
    dropout: float = 0.0  # the paper reports none
    batch_norm: bool = False  # off: rows stay independent in training as in serving
    crosses: tuple[tuple[str, str], ...] = ()  # pairs of sparse fields to cross; none by default
    cross_buckets: int = 10_000  # ids per cross (recnotes choice; the paper gives no sizes)
    init_std: float = 0.01  # standard deviation of the embedding initialisation (recnotes default)
    check_inputs: bool = True  # validate every batch against the schema (named errors)

    def __post_init__(self) -> None:
        if isinstance(self.hidden, list):  # JSON configs (checkpoints, --set) hold lists
            object.__setattr__(self, "hidden", tuple(self.hidden))
        object.__setattr__(self, "crosses", tuple(tuple(pair) for pair in self.crosses))
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if any(h < 1 for h in self.hidden):
            raise ValueError(f"every hidden width must be at least 1, got {self.hidden}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}")
        for pair in self.crosses:
            if len(pair) != 2 or pair[0] == pair[1]:
                raise ValueError(
                    f"every cross is a pair of two different sparse fields, got {pair}"
                )
        if self.cross_buckets < 1:
            raise ValueError(f"cross_buckets must be at least 1, got {self.cross_buckets}")
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


# --8<-- [start:cross]
def hash_cross(a: torch.Tensor, b: torch.Tensor, vocab_b: int, buckets: int) -> torch.Tensor:
    """Eq. (2): the id of the combination ``(a, b)`` in ``[1, buckets]``; ``0`` if either is padding.

    ``a * vocab_b + b`` numbers every combination once; taking it modulo ``buckets`` keeps the table
    small and is collision-free whenever ``vocab_a * vocab_b <= buckets``.

    Example:
        >>> a, b = torch.tensor([1, 1, 2, 2, 0]), torch.tensor([1, 2, 1, 2, 1])
        >>> hash_cross(a, b, vocab_b=3, buckets=100).tolist()
        [5, 6, 8, 9, 0]
    """
    combined = (a * vocab_b + b) % buckets + 1  # (B,)
    return torch.where((a == 0) | (b == 0), torch.zeros_like(combined), combined)


# --8<-- [end:cross]


class WideDeep(nn.Module):
    """Wide&Deep: ``logit = wide(x) + deep(x)``, the two parts trained jointly.

    The wide part is ``FeaturesLinear`` (a bias, one weight per id of every sparse/sequence field,
    one weight per dense column) plus one weight per hashed id of every declared cross. The deep
    part embeds every sparse and sequence field, appends the dense features and ends in an MLP with
    one output unit.

    Args:
        schema: the features; needs at least one sparse or sequence feature.
        config: hyper-parameters (:class:`WideDeepConfig`); the fields of ``config.crosses`` must
            be sparse features of ``schema``.

    Shapes:
        * ``wide(batch)``, ``deep(batch)``, ``forward(batch)``: ``(B,)``.
        * ``cross_ids(batch)``: ``(B, C)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_wide_deep()
        >>> model(batch).shape, model.cross_ids(batch).shape
        (torch.Size([6]), torch.Size([6, 1]))
    """

    def __init__(self, schema: Schema, config: WideDeepConfig = WideDeepConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        self.fields = [f.name for f in schema if f.kind in ("sparse", "sequence")]
        self.dense = [f.name for f in schema if f.kind == "dense"]
        if not self.fields:
            raise ValueError("WideDeep needs at least one sparse or sequence feature to embed")
        for pair in config.crosses:
            for name in pair:
                if name not in schema or schema[name].kind != "sparse":
                    raise ValueError(
                        f"cross {pair}: '{name}' is not a sparse feature of the schema "
                        f"(sparse features: {schema.names('sparse')})"
                    )
        self._inputs = schema.select(self.fields + self.dense)  # what check_inputs validates
        # wide part: Eq. (1)
        self.linear = FeaturesLinear(schema, self.fields, self.dense)
        self.cross_weights = nn.ModuleList(
            nn.Embedding(config.cross_buckets + 1, 1, padding_idx=0) for _ in config.crosses
        )
        for table in self.cross_weights:
            nn.init.zeros_(table.weight)  # like the linear weights: a linear model may start at 0
        # deep part: Eq. (3)
        self.embedding = FeatureEmbedding(
            schema, config.embed_dim, self.fields, init_std=config.init_std
        )
        dense_width = sum(schema[name].dim for name in self.dense)
        self.input_dim = len(self.fields) * config.embed_dim + dense_width
        self.mlp = MLP(
            self.input_dim,
            config.hidden,
            out_dim=1,
            activation=config.activation,
            dropout=config.dropout,
            batch_norm=config.batch_norm,
        )

    # --8<-- [start:wide]
    def cross_ids(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (2): the hashed id of every declared cross, ``(B, C)``."""
        ids = [
            hash_cross(batch[a], batch[b], self.schema[b].vocab_size, self.config.cross_buckets)
            for a, b in self.config.crosses
        ]
        rows = len(batch[self.fields[0]])
        return torch.stack(ids, dim=1) if ids else torch.zeros(rows, 0, dtype=torch.long)

    def wide(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (1): ``w_0 + sum of the id weights + <w, dense> + sum of the cross weights``, ``(B,)``."""
        out = self.linear(batch)  # (B,)
        crossed = self.cross_ids(batch)  # (B, C)
        for c, table in enumerate(self.cross_weights):
            out = out + table(crossed[:, c]).squeeze(-1)  # one weight per combination
        return out

    # --8<-- [end:wide]

    # --8<-- [start:deep]
    def deep(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (3): the MLP over ``[e_1; ...; e_F; dense]``, ``(B,)``."""
        e = self.embedding(batch).flatten(1)  # (B, F, D) -> (B, F * D)
        dense = [batch[n].to(e.dtype) for n in self.dense]
        blocks = [e] + [x.unsqueeze(-1) if x.dim() == 1 else x for x in dense]
        return self.mlp(torch.cat(blocks, dim=-1)).squeeze(-1)  # (B, F * D + P) -> (B,)

    # --8<-- [end:deep]

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        return self.wide(batch) + self.deep(batch)  # Eq. (4): one logit, one loss, joint training

    # --8<-- [end:forward]


def tiny_wide_deep() -> tuple[WideDeep, dict[str, torch.Tensor]]:
    """A tiny model and a matching batch: the shared tiny CTR batch plus a ``category`` field to cross."""
    base, batch = tiny_ctr_batch()
    category = Feature("category", "sparse", vocab_size=4)  # after item_ids, as the tests read it
    schema = Schema([g for f in base for g in ((f, category) if f.name == "item_ids" else (f,))])
    batch["category"] = torch.randint(1, 4, (6,), generator=torch.Generator().manual_seed(1))
    config = WideDeepConfig(
        embed_dim=4, hidden=(8, 4), crosses=(("user_ids", "category"),), cross_buckets=50,
        init_std=0.1,
    )  # fmt: skip
    return WideDeep(schema, config), batch


SPEC = register(
    ModelSpec(
        name="wide-deep",
        display_name="Wide&Deep",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="Wide & Deep Learning for Recommender Systems",
            authors="Cheng et al.",
            venue="DLRS",
            year=2016,
            url="https://arxiv.org/abs/1606.07792",
        ),
        cls=WideDeep,
        config_cls=WideDeepConfig,
        tiny=tiny_wide_deep,
        summary="A linear model over ids and crossed ids plus an Embedding&MLP, trained as one.",
        status="reproduced",  # results/frappe/wide-deep.json: test AUC within 0.003 of BARS (3 seeds)
        note="ranking/wide_deep.md",
    )
)
