"""Train GRU4Rec on the synthetic clicks and rank each user's next item (docs: GRU4Rec note)."""

import torch

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall import GRU4Rec, GRU4RecConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic()  # 600 users, 300 items; data.sequences: one row per user
seed_everything(0)
model = GRU4Rec(data.schema, GRU4RecConfig(embed_dim=32, hidden_dim=64, dropout=0.0, loss="ce"))
Trainer(model, TrainConfig(epochs=9, batch_size=32, lr=1e-2, progress=False,
                           device="cpu")).fit(data.sequences)  # fmt: skip

model.eval()
test, padding = data.test, torch.tensor([0])
with torch.no_grad():
    users = model.user_embedding(test.users)  # (U, D): the state after the newest item
    items = model.item_embedding(data.items)  # (N, D)
ours = full_ranking(users, items, test.targets, None, exclude_items=padding, ks=(10,))
popular = full_ranking(torch.ones(len(test), 1), data.item_counts[:, None], test.targets, None,
                       exclude_items=padding, ks=(10,))  # fmt: skip
print(f"users ranked: {ours['users']}, items: {data.num_items - 1}")
print(f"GRU4Rec     HR@10 = {ours['hr@10']:.3f}  NDCG@10 = {ours['ndcg@10']:.3f}")
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
scores = users[0] @ items.T  # user 0 against the catalogue
scores[0] = float("-inf")  # never recommend padding
print("user", int(test.user_ids[0]), "top-5 item ids:", scores.topk(5).indices.tolist())
