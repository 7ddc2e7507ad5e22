"""Re-rank one synthetic user's candidates with MMR and compare with plain top-10 (docs: MMR note)."""

import torch

from recnotes.data import SyntheticConfig, make_synthetic
from recnotes.metrics import ild
from recnotes.rerank import MMRConfig, mmr_rerank

# The synthetic truth gives every item a taste vector; a user's affinity to an item is a dot product.
data = make_synthetic(SyntheticConfig(num_users=200, num_items=500, latent_dim=16), seed=0)
item_vectors = torch.tensor(data.truth.item_factors, dtype=torch.float32)  # (I + 1, D), row = id
category = torch.zeros(len(item_vectors), dtype=torch.long)
category[torch.tensor(data.items["item_id"].to_numpy())] = torch.tensor(
    data.items["category"].to_numpy()
)
user = torch.tensor(data.truth.user_factors[7], dtype=torch.float32)

# Ranking hands over its 100 best items with their scores (here: the true affinity, standardised).
affinity = item_vectors[1:] @ user
candidates = affinity.topk(100).indices + 1  # item ids
scores = (affinity[candidates - 1] - affinity[candidates - 1].mean()) / affinity[
    candidates - 1
].std()
vectors = item_vectors[candidates]  # (100, D)

for lam in (1.0, 0.5, 0.3):
    order = mmr_rerank(scores, vectors, k=10, config=MMRConfig(lambda_=lam))  # (10,) indices
    print(
        f"lambda {lam:.1f}: mean score {scores[order].mean():.2f}, ILD@10 {ild(vectors[order]):.2f}, "
        f"categories {category[candidates[order]].unique().numel()}"
    )
