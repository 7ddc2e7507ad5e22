"""YouTube DNN candidate generation: next-watch prediction as extreme multiclass classification.

Paper: Paul Covington, Jay Adams and Emre Sargin, "Deep Neural Networks for YouTube
Recommendations", RecSys 2016, https://doi.org/10.1145/2959100.2959190 (Sec. 3, candidate
generation).

Stage: recall (family ``recall``).

The paper treats recommendation as classification: given the user and the context, which of the
millions of videos is watched next? The user's watch history is embedded id by id and averaged, the
user's other features (profile, demographics) are embedded and appended, and a tower of ReLU layers
turns the concatenation into a user vector ``u``. The classes are the items: a softmax whose output
weights ``v_j`` are one vector per item id. Training uses a sampled softmax, the true next item
against a few thousand uniformly drawn items, and serving drops the softmax: the candidates are the
items whose output vectors have the largest inner product with ``u``, a nearest-neighbour search.

Shape legend: ``B`` batch, ``L`` history length, ``E`` embedding width, ``F`` user-side fields,
``D`` width of the user vector and of each item vector, ``M`` sampled negatives, ``N`` catalogue
rows.

Equation numbers ``Eq. (n)`` refer to the note, ``docs/en/recall/youtubednn.md``.

Differences from the paper:

- Tower: the paper's best tower is ReLU 1024 -> 512 -> 256; the default here is 128 -> 64 so that a
  MovieLens-1M run fits a CPU core (``hidden=(1024, 512, 256)`` gives the paper's).
- Inputs: the paper adds search-query tokens, geography, device, and the "example age" feature (how
  long ago the training example was logged, set to zero at serving). The offline datasets have none
  of those, so the user vector reads the watch history and the user features the dataset has.
- Training examples: the paper samples a fixed number of examples per user and withholds the
  future; here every "history -> next item" position of a user's training sequence is a row (the
  shared retrieval data), and the held-out items are never trained on.
- Negatives: ``num_negatives`` items drawn uniformly with replacement, shared by the batch (the
  paper: "several thousand", with importance weighting); uniform draws need no correction.
- The softmax has no per-item bias: serving ranks by the inner product alone.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import BatchError, Schema
from recnotes.data.retrieval import retrieval_synthetic, user_side
from recnotes.layers import MLP, FeatureEmbedding
from recnotes.losses import sampled_softmax
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["YoutubeDNNConfig", "YoutubeDNN"]

_ACTIVATIONS = ("relu", "prelu", "gelu", "tanh", "sigmoid")


@dataclass(frozen=True)
class YoutubeDNNConfig:
    """Hyper-parameters of :class:`YoutubeDNN`.

    Example:
        >>> YoutubeDNNConfig(hidden=(1024, 512, 256)).hidden[-1]  # the paper's best tower
        256
        >>> YoutubeDNNConfig(embed_dim=32, share_embeddings=True)
        Traceback (most recent call last):
        ...
        ValueError: share_embeddings needs embed_dim == hidden[-1] (the item vectors are the history embeddings), got 32 and 64
    """

    embed_dim: int = 64  # width of the history and user-feature embeddings (paper: 256)
    hidden: tuple[int, ...] = (128, 64)  # ReLU tower; paper's best is (1024, 512, 256), Fig. 6
    activation: str = "relu"  # paper: ReLU, on every layer including the last
    dropout: float = 0.0  # after each tower layer
    num_negatives: int = 500  # uniform negatives per batch (paper: several thousand)
    temperature: float = 1.0  # divides the logits; 1.0 is the paper's plain softmax
    share_embeddings: bool = False  # item vectors = the history embedding table
    user_features: tuple[str, ...] | None = None  # None: every user-side feature
    init_std: float = 0.01  # standard deviation of the embedding initialisation
    check_inputs: bool = True  # validate batches against the schema (named errors)

    def __post_init__(self) -> None:
        for name in ("hidden", "user_features"):
            if isinstance(getattr(self, name), list):  # JSON configs and --set hold lists
                object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be at least 1, got {self.embed_dim}")
        if not self.hidden or any(h < 1 for h in self.hidden):
            raise ValueError(
                f"hidden needs at least one width (the last is the vector width), got {self.hidden}"
            )
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {_ACTIVATIONS}, got {self.activation!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout is a probability in [0, 1), got {self.dropout}")
        if self.num_negatives < 1:
            raise ValueError(f"num_negatives must be at least 1, got {self.num_negatives}")
        if not (self.temperature > 0 and math.isfinite(self.temperature)):
            raise ValueError(f"temperature must be a positive number, got {self.temperature}")
        if self.share_embeddings and self.embed_dim != self.hidden[-1]:
            raise ValueError(
                "share_embeddings needs embed_dim == hidden[-1] (the item vectors are the history "
                f"embeddings), got {self.embed_dim} and {self.hidden[-1]}"
            )
        if not self.init_std > 0:
            raise ValueError(f"init_std must be positive, got {self.init_std}")


class YoutubeDNN(nn.Module):
    """YouTube DNN candidate generation: a ReLU tower for the user, one output vector per item.

    The user vector (Eqs. 1-2) reads ``history_ids`` (mean-pooled; padding ignored) and the other
    user-side features (every feature not named ``item_*``). The item vectors are the weights of
    the softmax (Eq. 3), one row per item id, trained with a sampled softmax over ``num_negatives``
    uniformly drawn items shared by the batch (Eq. 4).

    Args:
        schema: the features of the user and item batches (``RetrievalData.schema``); needs
            ``history_ids`` and ``item_ids``.
        config: hyper-parameters (:class:`YoutubeDNNConfig`).

    Shapes:
        * ``user_embedding(batch)``: ``(B, D)``.
        * ``item_embedding(batch)``: ``(N, D)``, from ``item_ids`` alone.
        * ``loss(batch)``: ``()``, on a training batch.

    Returns:
        Raw vectors; the retrieval score is their inner product.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_youtubednn()
        >>> model.user_embedding(batch).shape, model.item_embedding(batch).shape
        (torch.Size([16, 8]), torch.Size([16, 8]))
        >>> bool((model.user_embedding(batch) >= 0).all())  # the tower ends in a ReLU
        True
    """

    def __init__(self, schema: Schema, config: YoutubeDNNConfig = YoutubeDNNConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        for name in ("history_ids", "item_ids"):
            if name not in schema:
                raise ValueError(f"YoutubeDNN needs '{name}' in the schema")
        fields = (
            list(config.user_features) if config.user_features is not None else user_side(schema)
        )
        if "history_ids" not in fields:
            raise ValueError("user_features must include 'history_ids' (the watch history)")
        for name in fields:
            if name not in schema or name.startswith("item_"):
                raise ValueError(f"user feature '{name}' must be a user-side feature of the schema")
            if schema[name].kind not in ("sparse", "sequence"):
                raise ValueError(f"feature '{name}' is {schema[name].kind}; only ids are embedded")
        self.fields = fields
        self._user_inputs = schema.select(fields)
        self._item_inputs = schema.select(["item_ids"])
        # history_ids shares the item_ids table: one input vector per item id
        self.embedding = FeatureEmbedding(
            schema, config.embed_dim, fields, init_std=config.init_std
        )
        self.tower = MLP(len(fields) * config.embed_dim, config.hidden,
                         activation=config.activation, dropout=config.dropout)  # fmt: skip
        self.num_items = schema["item_ids"].vocab_size  # catalogue rows, padding included
        if config.share_embeddings:
            self.item_vectors = self.embedding.tables[self.embedding.table_of["history_ids"]]
        else:
            self.item_vectors = nn.Embedding(self.num_items, config.hidden[-1], padding_idx=0)
            nn.init.normal_(self.item_vectors.weight, std=config.init_std)
            with torch.no_grad():
                self.item_vectors.weight[0].zero_()

    # --8<-- [start:user]
    def user_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eqs. (1)-(2): pooled history and user features -> ReLU tower -> ``u``, ``(B, D)``."""
        if self.config.check_inputs:
            self._user_inputs.validate(batch)  # BatchError names the feature
        x = self.embedding(batch)  # Eq. (1): (B, F, E); history_ids mean-pooled, padding ignored
        return self.tower(x.flatten(1))  # Eq. (2): (B, F * E) -> (B, D)

    def item_embedding(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Eq. (3): the softmax output vector ``v_j`` of each row's ``item_ids``, ``(N, D)``."""
        if self.config.check_inputs:
            self._item_inputs.validate(batch)
        return self.item_vectors(batch["item_ids"])

    # --8<-- [end:user]

    # --8<-- [start:loss]
    def loss(
        self, batch: Mapping[str, torch.Tensor], negative_ids: torch.Tensor | None = None
    ) -> torch.Tensor:
        """Eq. (4): sampled softmax of each row's next item against shared negatives.

        Args:
            batch: a training batch (user-side features and the target ``item_ids``).
            negative_ids: ``(M,)`` negative item ids; default ``num_negatives`` ids drawn
                uniformly (with replacement) from ``1 .. N - 1`` with the global torch generator.
        """
        user = self.user_embedding(batch)  # (B, D)
        positive_ids = batch["item_ids"]
        if negative_ids is None:
            shape = (self.config.num_negatives,)
            negative_ids = torch.randint(1, self.num_items, shape, device=positive_ids.device)
        elif negative_ids.dim() != 1 or bool(
            ((negative_ids < 1) | (negative_ids >= self.num_items)).any()
        ):
            raise BatchError(
                "negative_ids", f"must be a 1-D tensor of ids in [1, {self.num_items})"
            )
        return sampled_softmax(
            user,
            self.item_embedding(batch),  # (B, D) the positives
            self.item_vectors(negative_ids),  # (M, D) shared by every row
            positive_ids=positive_ids,
            negative_ids=negative_ids,  # a negative equal to a row's positive is masked there
            temperature=self.config.temperature,
        )

    # --8<-- [end:loss]


@functools.lru_cache(maxsize=1)
def _tiny_data():
    return retrieval_synthetic(num_users=40, num_items=30, max_len=5, seed=0)


def tiny_youtubednn() -> tuple[YoutubeDNN, dict[str, torch.Tensor]]:
    """A tiny YoutubeDNN on the small synthetic retrieval data and its first 16 training rows."""
    data = _tiny_data()
    config = YoutubeDNNConfig(embed_dim=4, hidden=(8, 8), num_negatives=64, init_std=0.1)
    return YoutubeDNN(data.schema, config), data.train[torch.arange(16)]


SPEC = register(
    ModelSpec(
        name="youtubednn",
        display_name="YouTube DNN",
        stage="recall",
        family="recall",
        paper=Paper(
            title="Deep Neural Networks for YouTube Recommendations",
            authors="Covington et al.",
            venue="RecSys",
            year=2016,
            url="https://doi.org/10.1145/2959100.2959190",
        ),
        cls=YoutubeDNN,
        config_cls=YoutubeDNNConfig,
        tiny=tiny_youtubednn,
        summary="Next-watch prediction as a sampled softmax over items: a ReLU tower for the user, "
        "the softmax weights as item vectors.",
        status="implemented",
        note="recall/youtubednn.md",
    )
)
