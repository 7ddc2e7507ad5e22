"""Generative recommendation: HSTU (and, with later issues, RQ-VAE semantic ids and TIGER).

Each model file registers its models with [`recnotes.registry`][recnotes.registry] when it is
imported here.
"""

from recnotes.generative.hstu import HSTU, HSTUConfig

__all__ = ["HSTU", "HSTUConfig"]
