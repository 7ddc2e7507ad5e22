"""Train DSSM on the synthetic clicks and retrieve each user's next item (docs: the DSSM note)."""

import torch

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall import DSSM, DSSMConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic(seed=0)  # "history -> next item" rows; last click of each user = test
seed_everything(0)
model = DSSM(data.schema, DSSMConfig(embed_dim=32, hidden=(64, 32), temperature=0.05))
model.set_item_counts(data.item_counts)  # q_j for the log-Q correction
config = TrainConfig(epochs=2, batch_size=256, lr=5e-3, drop_last=True, progress=False)
Trainer(model, config).fit(data.train)  # the Trainer calls model.loss(batch)

model.eval()
with torch.no_grad():
    users = model.user_embedding(data.test.users)  # (U, D), one pass of the user tower
    items = model.item_embedding(data.items)  # (N, D), computed once for the whole catalogue
test = dict(targets=data.test.targets, seen=data.test.seen, exclude_items=torch.tensor([0]))
dssm = full_ranking(users, items, **test, ks=(10,), metrics=("hr", "ndcg"))
clicks = data.item_counts[:, None]  # popularity: every user gets the same scores
popular = full_ranking(
    torch.ones(len(data.test), 1), clicks, **test, ks=(10,), metrics=("hr", "ndcg")
)

print(f"users ranked: {dssm['users']}, items each: {data.num_items - 1}")
print(f"DSSM        HR@10 = {dssm['hr@10']:.3f}  NDCG@10 = {dssm['ndcg@10']:.3f}")
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
print("unit vectors:", bool(torch.allclose(items[1:].norm(dim=-1), torch.ones(data.num_items - 1))))
