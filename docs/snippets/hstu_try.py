"""Train HSTU on the synthetic clicks and rank each user's next item (docs: HSTU note)."""

import torch

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.generative import HSTU, HSTUConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic()  # 600 users, 300 items; data.sequences: a target at every position
seed_everything(0)
model = HSTU(data.schema, HSTUConfig(embed_dim=32, num_heads=2, dropout=0.2))
Trainer(model, TrainConfig(epochs=5, batch_size=64, lr=3e-3, progress=False,
                           device="cpu")).fit(data.sequences)  # fmt: skip
model.eval()
test, padding = data.test, torch.tensor([0])
with torch.no_grad():
    users = model.user_embedding(test.users)  # (U, D): the unit output at the last position
    items = model.item_embedding(data.items)  # (N, D): unit item embeddings
    short = test.users["history_ids"][(test.users["history_ids"] == 0).any(1)][:1]  # (1, L)
    norms = model.sequence_output(short)[0].norm(dim=-1)  # (L,): one output per position
pad = short[0] == 0
print(f"a short history: {int(pad.sum())} padding positions, outputs there all zero:",
      bool((norms[pad] == 0).all()), "| real positions unit norm:",
      bool(torch.allclose(norms[~pad], torch.ones(int((~pad).sum())))))  # fmt: skip
print(
    "user vectors have unit norm:", bool(torch.allclose(users.norm(dim=1), torch.ones(len(test))))
)
out = full_ranking(users, items, test.targets, None, exclude_items=padding, ks=(10,))
print(f"HSTU        HR@10 = {out['hr@10']:.3f}  NDCG@10 = {out['ndcg@10']:.3f}")
popular = full_ranking(torch.ones(len(test), 1), data.item_counts[:, None], test.targets, None,
                       exclude_items=padding, ks=(10,))  # fmt: skip
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
scores = users[0] @ items.T  # cosine similarity with every item
scores[0] = float("-inf")  # never recommend padding
print("user", int(test.user_ids[0]), "top-5 item ids:", scores.topk(5).indices.tolist())
