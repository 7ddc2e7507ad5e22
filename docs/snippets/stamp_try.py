"""Train STAMP on the synthetic clicks and rank each user's next item (docs: STAMP note)."""

import torch

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall import STAMP, STAMPConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic()  # 600 users, 300 items; data.train: one row per "history -> next item"
row = data.train[:1]
print("history_ids[0, -5:]:", row["history_ids"][0, -5:].tolist(), "-> item_ids[0]:",
      int(row["item_ids"][0]))  # fmt: skip

seed_everything(0)
model = STAMP(data.schema, STAMPConfig(embed_dim=32, init_std=0.05))
Trainer(model, TrainConfig(epochs=3, batch_size=256, lr=1e-2, progress=False,
                           device="cpu")).fit(data.train)  # fmt: skip
model.eval()
test, padding = data.test, torch.tensor([0])
with torch.no_grad():
    users = model.user_embedding(test.users)  # (U, D): h_s * h_t
    items = model.item_embedding(data.items)  # (N, D): the item embeddings x_i
out = full_ranking(users, items, test.targets, None, exclude_items=padding, ks=(10,))
print(f"STAMP       HR@10 = {out['hr@10']:.3f}  NDCG@10 = {out['ndcg@10']:.3f}")
popular = full_ranking(torch.ones(len(test), 1), data.item_counts[:, None], test.targets, None,
                       exclude_items=padding, ks=(10,))  # fmt: skip
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
scores = users[0] @ items.T  # the trilinear score <h_s, h_t, x_i> of user 0 for every item
scores[0] = float("-inf")  # never recommend padding
print("user", int(test.user_ids[0]), "top-5 item ids:", scores.topk(5).indices.tolist())
