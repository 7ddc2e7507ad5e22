"""A minimal model used only by the tests, to prove the registry, contract test, Trainer and CLI
before the real model families arrive. It is registered under the name ``toy-ranker``."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Feature, Schema
from recnotes.registry import ModelSpec, Paper, register


@dataclass(frozen=True)
class ToyRankerConfig:
    embed_dim: int = 4
    dropout: float = 0.0

    def __post_init__(self) -> None:
        if self.embed_dim < 1:
            raise ValueError(f"embed_dim must be >= 1, got {self.embed_dim}")


class ToyRanker(nn.Module):
    """Logit = bias + sum of per-field weights + a dot product of the first two fields' embeddings."""

    def __init__(self, schema: Schema, config: ToyRankerConfig = ToyRankerConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        self.fields = schema.names("sparse")
        self.weights = nn.ModuleDict({f: nn.Embedding(schema[f].vocab_size, 1) for f in self.fields})
        self.vectors = nn.ModuleDict(
            {f: nn.Embedding(schema[f].vocab_size, config.embed_dim) for f in self.fields[:2]}
        )
        self.bias = nn.Parameter(torch.zeros(()))
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, batch: dict[str, torch.Tensor]) -> torch.Tensor:
        logit = self.bias + sum(self.weights[f](batch[f]).squeeze(-1) for f in self.fields)
        a, b = (self.dropout(self.vectors[f](batch[f])) for f in self.fields[:2])
        return logit + (a * b).sum(-1)  # (B,)


TOY_SCHEMA = Schema(
    [
        Feature("user_ids", "sparse", vocab_size=8),
        Feature("item_ids", "sparse", vocab_size=6),
        Feature("label", "label"),
    ]
)


def tiny_toy() -> tuple[nn.Module, dict[str, torch.Tensor]]:
    gen = torch.Generator().manual_seed(0)
    batch = {
        "user_ids": torch.randint(1, 8, (5,), generator=gen),
        "item_ids": torch.randint(1, 6, (5,), generator=gen),
        "label": torch.tensor([1.0, 0.0, 1.0, 0.0, 0.0]),
    }
    return ToyRanker(TOY_SCHEMA, ToyRankerConfig()), batch


TOY_SPEC = register(
    ModelSpec(
        name="toy-ranker",
        display_name="ToyRanker",
        stage="ranking",
        family="ranking",
        paper=Paper("A test-only model", "recnotes", "tests", 2026, "https://example.org/toy"),
        cls=ToyRanker,
        config_cls=ToyRankerConfig,
        tiny=tiny_toy,
        summary="Test-only logistic model with one interaction term.",
    )
)
