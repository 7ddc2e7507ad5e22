"""Blocks that several models share: MLP, feature embedding, pooling.

Interaction blocks (FM, cross, product), target attention, self-attention and experts/gates join
this package with the models that first need them.
"""

from recnotes.layers.embedding import FeatureEmbedding, masked_mean
from recnotes.layers.mlp import MLP

__all__ = ["MLP", "FeatureEmbedding", "masked_mean"]
