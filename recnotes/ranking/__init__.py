"""ranking models."""

from recnotes.ranking.embedding_mlp import EmbeddingMLP, EmbeddingMLPConfig

__all__ = ["EmbeddingMLP", "EmbeddingMLPConfig"]
