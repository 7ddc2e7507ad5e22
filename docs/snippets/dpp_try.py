"""Re-rank one synthetic user's candidates with fast greedy DPP and compare with plain top-10
(docs: DPP note)."""

import torch

from recnotes.data import SyntheticConfig, make_synthetic
from recnotes.metrics import ild
from recnotes.rerank import DPPConfig, dpp_rerank

# The synthetic truth gives every item a taste vector; a user's affinity to an item is a dot product.
data = make_synthetic(SyntheticConfig(num_users=200, num_items=500, latent_dim=16), seed=0)
item_vectors = torch.tensor(data.truth.item_factors, dtype=torch.float32)  # (I + 1, D), row = id
ids = torch.tensor(data.items["item_id"].to_numpy())
category = torch.zeros(len(item_vectors), dtype=torch.long)
category[ids] = torch.tensor(data.items["category"].to_numpy())
user = torch.tensor(data.truth.user_factors[7], dtype=torch.float32)

# Ranking hands over its 100 best items with their scores (here: the true affinity, standardised).
affinity = item_vectors[1:] @ user
candidates = affinity.topk(100).indices + 1  # item ids
scores = (affinity[candidates - 1] - affinity[candidates - 1].mean()) / affinity[
    candidates - 1
].std()
vectors = item_vectors[candidates]  # (100, D)

for theta, window in ((0.99, None), (0.8, None), (0.6, None), (0.6, 3)):
    config = DPPConfig(theta=theta, window=window)
    order = dpp_rerank(scores, vectors, k=10, config=config)  # (10,) indices into the candidates
    print(
        f"theta {theta:.2f}, window {window}: {len(order)} items, mean score "
        f"{scores[order].mean():.2f}, ILD@10 {ild(vectors[order]):.2f}, "
        f"categories {category[candidates[order]].unique().numel()}"
    )
