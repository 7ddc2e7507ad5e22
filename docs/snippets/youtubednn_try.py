"""Train YouTube DNN on the synthetic clicks and retrieve each user's next item (docs: its note)."""

import torch

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall import YoutubeDNN, YoutubeDNNConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic(seed=0)  # "history -> next item" rows; last click of each user = test
seed_everything(0)  # also seeds the uniform draw of the negatives
config = YoutubeDNNConfig(embed_dim=32, hidden=(64,), num_negatives=100, init_std=0.1)
model = YoutubeDNN(data.schema, config)
train = TrainConfig(epochs=2, batch_size=256, lr=1e-2, drop_last=True, progress=False)
Trainer(model, train).fit(data.train)  # the Trainer calls model.loss(batch)

model.eval()
with torch.no_grad():
    users = model.user_embedding(data.test.users)  # (U, D): the ReLU tower's output
    items = model.item_embedding(data.items)  # (N, D): the softmax weights, one row per item
test = dict(targets=data.test.targets, seen=data.test.seen, exclude_items=torch.tensor([0]))
ytdnn = full_ranking(users, items, **test, ks=(10,), metrics=("hr", "ndcg"))
clicks = data.item_counts[:, None]  # popularity: every user gets the same scores
popular = full_ranking(
    torch.ones(len(data.test), 1), clicks, **test, ks=(10,), metrics=("hr", "ndcg")
)

print(f"users ranked: {ytdnn['users']}, items each: {data.num_items - 1}")
print(f"YouTube DNN HR@10 = {ytdnn['hr@10']:.3f}  NDCG@10 = {ytdnn['ndcg@10']:.3f}")
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
top = (users[:1] @ items[1:].T).topk(5).indices[0] + 1  # nearest neighbours of the first user
print("first test user, top-5 item ids:", top.tolist())
