"""Blocks that several models share: MLP, feature embedding, pooling.

Interaction blocks (the linear term, field pairs, the FM identity) live in ``interaction``; cross
and product blocks, target attention, self-attention and experts/gates join
this package with the models that first need them.
"""

from recnotes.layers.capsule import dynamic_routing, squash
from recnotes.layers.embedding import FeatureEmbedding, embedding_rows, masked_mean
from recnotes.layers.interaction import (
    FeaturesLinear,
    FieldVectors,
    bi_interaction,
    fm_interaction,
    pair_indices,
    pair_products,
)
from recnotes.layers.mlp import MLP, xavier_linears_
from recnotes.layers.packed_embedding import PackedEmbedding

__all__ = [
    "MLP",
    "PackedEmbedding",
    "FeatureEmbedding",
    "FeaturesLinear",
    "FieldVectors",
    "bi_interaction",
    "embedding_rows",
    "dynamic_routing",
    "fm_interaction",
    "masked_mean",
    "pair_indices",
    "pair_products",
    "squash",
    "xavier_linears_",
]
