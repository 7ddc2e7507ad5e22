"""Train MIND on the synthetic clicks and retrieve each user's next item (docs: the MIND note)."""

import torch

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall import MIND, MINDConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic(seed=0)  # "history -> next item" rows; last click of each user = test
seed_everything(0)
model = MIND(
    data.schema, MINDConfig(embed_dim=32, num_interests=4, hidden=(64,), num_negatives=256)
)
config = TrainConfig(epochs=2, batch_size=256, lr=5e-3, drop_last=True, progress=False)
Trainer(model, config).fit(data.train)  # the Trainer calls model.loss(batch)

model.eval()
with torch.no_grad():
    vectors, active = model.interests(data.test.users)  # (U, K, D) and (U, K)
    users = model.user_embedding(data.test.users)  # inactive interests: copies of interest 0
    items = model.item_embedding(data.items)  # (N, D)
test = dict(targets=data.test.targets, seen=data.test.seen, exclude_items=torch.tensor([0]))
mind = full_ranking(users, items, **test, ks=(10,), metrics=("hr", "ndcg"))  # max over interests
clicks = data.item_counts[:, None]  # popularity: every user gets the same scores
popular = full_ranking(
    torch.ones(len(data.test), 1), clicks, **test, ks=(10,), metrics=("hr", "ndcg")
)

print(f"user vectors: {tuple(users.shape)}, items: {tuple(items.shape)}")
print(
    "users with 1/2/3/4 active interests:", torch.bincount(active.sum(1), minlength=5)[1:].tolist()
)
print(f"MIND        HR@10 = {mind['hr@10']:.3f}  NDCG@10 = {mind['ndcg@10']:.3f}")
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
