"""Recall models: retrievers that find, among the whole catalogue, the candidates worth ranking.

Each model file registers its models with [`recnotes.registry`][recnotes.registry] when it is
imported here.
"""

from recnotes.recall.bert4rec import BERT4Rec, BERT4RecConfig
from recnotes.recall.comirec import ComiRecDR, ComiRecDRConfig, ComiRecSA, ComiRecSAConfig
from recnotes.recall.dssm import DSSM, DSSMConfig
from recnotes.recall.gru4rec import GRU4Rec, GRU4RecConfig
from recnotes.recall.mind import MIND, MINDConfig
from recnotes.recall.ncf import GMF, NCFMLP, GMFConfig, NCFMLPConfig, NeuMF, NeuMFConfig
from recnotes.recall.sasrec import SASRec, SASRecConfig
from recnotes.recall.sdm import SDM, SDMConfig
from recnotes.recall.stamp import STAMP, STAMPConfig
from recnotes.recall.youtubednn import YoutubeDNN, YoutubeDNNConfig

__all__ = [
    "BERT4Rec",
    "BERT4RecConfig",
    "ComiRecDR",
    "ComiRecDRConfig",
    "ComiRecSA",
    "ComiRecSAConfig",
    "DSSM",
    "DSSMConfig",
    "GMF",
    "GMFConfig",
    "GRU4Rec",
    "GRU4RecConfig",
    "MIND",
    "MINDConfig",
    "NCFMLP",
    "NCFMLPConfig",
    "NeuMF",
    "NeuMFConfig",
    "SASRec",
    "SASRecConfig",
    "SDM",
    "SDMConfig",
    "STAMP",
    "STAMPConfig",
    "YoutubeDNN",
    "YoutubeDNNConfig",
]
