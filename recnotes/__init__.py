"""recnotes: notes on recommender-system models, with a PyTorch implementation of each.

Subpackages follow the industrial pipeline: :mod:`recnotes.recall`, :mod:`recnotes.ranking`,
:mod:`recnotes.rerank`, plus :mod:`recnotes.multitask`, :mod:`recnotes.meta` and
:mod:`recnotes.generative`. Shared pieces: :mod:`recnotes.data` (schema, datasets, splits),
:mod:`recnotes.metrics`, :mod:`recnotes.evaluate`, :mod:`recnotes.train` and :mod:`recnotes.registry`.
"""

__version__ = "0.1.0"
