"""Pre-ranking models: cheap scorers that cut recall's candidates down to what ranking can afford.

Each model file registers its models with [`recnotes.registry`][recnotes.registry] when it is
imported here.
"""

from recnotes.prerank.mlp import PreRankMLP, PreRankMLPConfig, prerank_schema

__all__ = ["PreRankMLP", "PreRankMLPConfig", "prerank_schema"]
