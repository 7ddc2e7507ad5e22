"""Train ComiRec-SA on the synthetic clicks, then trade accuracy for diversity (docs: ComiRec)."""

import torch

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall import ComiRecSA, ComiRecSAConfig
from recnotes.recall.comirec import aggregate, item_categories
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic(seed=0)  # "history -> next item" rows; last click of each user = test
seed_everything(0)
model = ComiRecSA(data.schema, ComiRecSAConfig(embed_dim=32, num_interests=4, num_negatives=256))
config = TrainConfig(epochs=2, batch_size=256, lr=5e-3, drop_last=True, progress=False)
Trainer(model, config).fit(data.train)  # the Trainer calls model.loss(batch)

model.eval()
with torch.no_grad():
    users = model.user_embedding(data.test.users)  # (U, K, D): K interests per user
    items = model.item_embedding(data.items)  # (N, D)
test = dict(targets=data.test.targets, seen=data.test.seen, exclude_items=torch.tensor([0]))
comirec = full_ranking(users, items, **test, ks=(10,), metrics=("hr", "ndcg"))
clicks = data.item_counts[:, None]  # popularity: every user gets the same scores
popular = full_ranking(
    torch.ones(len(data.test), 1), clicks, **test, ks=(10,), metrics=("hr", "ndcg")
)
print(f"ComiRec-SA  HR@10 = {comirec['hr@10']:.3f}  NDCG@10 = {comirec['ndcg@10']:.3f}")
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")

# The aggregation module: lambda = 0 is the merge by best score; lambda > 0 mixes categories in.
categories = item_categories(data.items)  # (N,) one category per item
indptr, seen = data.test.seen
for lam in (0.0, 0.05, 1.0):
    lists = aggregate(users[:100], items, categories, k=10, lam=lam, per_interest=20,
                      exclude=[torch.cat([torch.tensor([0]), seen[indptr[u]:indptr[u + 1]]])
                               for u in range(100)])  # fmt: skip
    per_list = torch.tensor([len(set(categories[row].tolist())) for row in lists]).float()
    print(f"lambda = {lam:<4}  categories per top-10 list: {per_list.mean():.2f}")
