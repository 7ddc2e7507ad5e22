"""Mask one sequence, train BERT4Rec on the synthetic clicks, rank each next item (docs: BERT4Rec)."""

import torch

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall import BERT4Rec, BERT4RecConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic()  # 600 users, 300 items; data.sequences: one row per user
seed_everything(0)
model = BERT4Rec(data.schema, BERT4RecConfig(embed_dim=32, mask_prob=0.4))
sequence = data.sequences[:1]["history_ids"]  # (1, L), left-padded
tokens, masked = model.mask_items(sequence, torch.Generator().manual_seed(0))
print("sequence[0, -8:]:", sequence[0, -8:].tolist())
print("tokens[0, -8:]:  ", tokens[0, -8:].tolist(), f"([mask] = {model.mask_id})")
print("cloze targets:   ", sequence[masked].tolist())

# The cloze task learns slowly: on these clicks it needs tens of epochs to pass popularity.
Trainer(model, TrainConfig(epochs=40, batch_size=64, lr=3e-3, progress=False,
                           device="cpu")).fit(data.sequences)  # fmt: skip
model.eval()
test, padding = data.test, torch.tensor([0])
with torch.no_grad():
    users = model.user_embedding(test.users)  # (U, D): the output at a [mask] after the history
    items = model.item_embedding(data.items)  # (N, D): the shared token embeddings
out = full_ranking(users, items, test.targets, None, exclude_items=padding, ks=(10,))
print(f"BERT4Rec    HR@10 = {out['hr@10']:.3f}  NDCG@10 = {out['ndcg@10']:.3f}")
popular = full_ranking(torch.ones(len(test), 1), data.item_counts[:, None], test.targets, None,
                       exclude_items=padding, ks=(10,))  # fmt: skip
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
scores = users[0] @ items.T
scores[0] = float("-inf")  # never recommend padding
print("user", int(test.user_ids[0]), "top-5 item ids:", scores.topk(5).indices.tolist())
