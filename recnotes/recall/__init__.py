"""Recall models: retrievers that find, among the whole catalogue, the candidates worth ranking.

Each model file registers its models with [`recnotes.registry`][recnotes.registry] when it is
imported here.
"""

from recnotes.recall.ncf import GMF, NCFMLP, GMFConfig, NCFMLPConfig, NeuMF, NeuMFConfig

__all__ = ["GMF", "GMFConfig", "NCFMLP", "NCFMLPConfig", "NeuMF", "NeuMFConfig"]
