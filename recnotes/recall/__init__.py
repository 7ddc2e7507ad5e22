"""Recall models: retrievers that find, among the whole catalogue, the candidates worth ranking.

Each model file registers its models with [`recnotes.registry`][recnotes.registry] when it is
imported here.
"""

from recnotes.recall.bert4rec import BERT4Rec, BERT4RecConfig
from recnotes.recall.gru4rec import GRU4Rec, GRU4RecConfig
from recnotes.recall.ncf import GMF, NCFMLP, GMFConfig, NCFMLPConfig, NeuMF, NeuMFConfig
from recnotes.recall.sasrec import SASRec, SASRecConfig
from recnotes.recall.stamp import STAMP, STAMPConfig

__all__ = [
    "BERT4Rec",
    "BERT4RecConfig",
    "GMF",
    "GMFConfig",
    "GRU4Rec",
    "GRU4RecConfig",
    "NCFMLP",
    "NCFMLPConfig",
    "NeuMF",
    "NeuMFConfig",
    "SASRec",
    "SASRecConfig",
    "STAMP",
    "STAMPConfig",
]
