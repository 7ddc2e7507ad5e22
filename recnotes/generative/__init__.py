"""Generative recommendation: HSTU (and, with later issues, RQ-VAE semantic ids and TIGER).

Each model file registers its models with [`recnotes.registry`][recnotes.registry] when it is
imported here.
"""

from recnotes.generative.hstu import HSTU, HSTUConfig
from recnotes.generative.rqvae import (
    RQVAE,
    RQVAEConfig,
    SemanticIdError,
    SemanticIds,
    semantic_ids,
    train_rqvae,
)
from recnotes.generative.tiger import TIGER, PrefixTrie, TIGERConfig

__all__ = [
    "HSTU",
    "HSTUConfig",
    "RQVAE",
    "RQVAEConfig",
    "SemanticIdError",
    "SemanticIds",
    "PrefixTrie",
    "TIGER",
    "TIGERConfig",
    "semantic_ids",
    "train_rqvae",
]
