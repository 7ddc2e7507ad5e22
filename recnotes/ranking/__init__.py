"""ranking models."""

from recnotes.ranking.afm import AFM, AFMConfig
from recnotes.ranking.dcn import DCN, DCNConfig
from recnotes.ranking.dcn_v2 import DCNMixConfig, DCNv2, DCNv2Config
from recnotes.ranking.deep_crossing import DeepCrossing, DeepCrossingConfig
from recnotes.ranking.deepfm import DeepFM, DeepFMConfig
from recnotes.ranking.embedding_mlp import EmbeddingMLP, EmbeddingMLPConfig
from recnotes.ranking.ffm import FFM, FFMConfig
from recnotes.ranking.fm import FM, FMConfig
from recnotes.ranking.lr import LR, LRConfig
from recnotes.ranking.nfm import NFM, NFMConfig
from recnotes.ranking.pnn import PNN, PNNConfig
from recnotes.ranking.wide_deep import WideDeep, WideDeepConfig

__all__ = [
    "EmbeddingMLP",
    "EmbeddingMLPConfig",
    "FFM",
    "FFMConfig",
    "FM",
    "FMConfig",
    "LR",
    "LRConfig",
    "DeepCrossing",
    "DeepCrossingConfig",
    "PNN",
    "PNNConfig",
    "WideDeep",
    "WideDeepConfig",
    "NFM",
    "NFMConfig",
    "AFM",
    "AFMConfig",
    "DeepFM",
    "DeepFMConfig",
    "DCN",
    "DCNConfig",
    "DCNv2",
    "DCNv2Config",
    "DCNMixConfig",
]
