"""Re-ranking: pick the final list from ranking's candidates, trading relevance against diversity.

Every re-ranker is a plain function with one contract,
``rerank(scores (N,), item_vectors (N, D), k, config) -> order (k,)`` (a LongTensor of indices into
the candidates, in pick order), and a frozen config dataclass. They are not ``nn.Module`` s and are
not in the model registry: they have no parameters to train.
"""

from recnotes.rerank.common import check_candidates, unit_vectors
from recnotes.rerank.dpp import (
    DPPConfig,
    dpp_greedy_map,
    dpp_kernel,
    dpp_rerank,
    naive_greedy_logdet,
    relevance,
)
from recnotes.rerank.mmr import MMRConfig, mmr_rerank

__all__ = [
    "MMRConfig",
    "mmr_rerank",
    "DPPConfig",
    "dpp_rerank",
    "relevance",
    "dpp_kernel",
    "dpp_greedy_map",
    "naive_greedy_logdet",
    "check_candidates",
    "unit_vectors",
]
