"""Train SDM on the synthetic clicks and rank each user's next item among all items (docs: SDM note)."""

import torch

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall import SDM, SDMConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic()  # one row per "last 20 clicks -> next click"; item 0 is padding
seed_everything(0)
config = SDMConfig(embed_dim=32, short_len=5, temperature=0.2, item_features=True,
                   use_user_ids=False)  # fmt: skip
model = SDM(data.schema, config)
model.set_item_table(data.items)  # sampled negatives get their category, brand and price too
Trainer(model, TrainConfig(epochs=3, batch_size=256, lr=1e-2, progress=False,
                           drop_last=True)).fit(data.train)  # fmt: skip

model.eval()
test, padding = data.test, torch.tensor([0])
with torch.no_grad():
    users = model.user_embedding(test.users)  # (U, D): the fused vector o
    items = model.item_embedding(data.items)  # (N, D)
    gate = model.encode(test.users)["gate"]  # (U, D): how much of the session each user keeps
sdm = full_ranking(users, items, test.targets, test.seen, exclude_items=padding, ks=(10,))
popular = full_ranking(torch.ones(len(test), 1), data.item_counts[:, None], test.targets,
                       test.seen, exclude_items=padding, ks=(10,))  # fmt: skip

scores = users[0] @ items.T  # user 0 against the catalogue
scores[0] = float("-inf")  # never recommend padding
print(f"users ranked: {sdm['users']}, items: {data.num_items - 1}")
print(f"SDM         HR@10 = {sdm['hr@10']:.3f}  NDCG@10 = {sdm['ndcg@10']:.3f}")
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
print(f"mean gate G = {gate.mean():.2f} (1: session only, 0: long-term only)")
print("user", int(test.user_ids[0]), "top-5 item ids:", scores.topk(5).indices.tolist())
