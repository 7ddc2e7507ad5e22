"""Train SASRec with both losses on the synthetic clicks and rank each user's next item (docs: SASRec note)."""

import torch

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall import SASRec, SASRecConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic()  # 600 users, 300 items; data.sequences: one row per user
batch = data.sequences[:1]
print("history_ids[0, -5:]:", batch["history_ids"][0, -5:].tolist())
print("target_ids[0, -5:]: ", batch["target_ids"][0, -5:].tolist())  # the next item, shifted by one

test, padding = data.test, torch.tensor([0])
for loss, epochs in (("ce", 6), ("bce", 12)):  # one negative per position learns more slowly
    seed_everything(0)
    model = SASRec(data.schema, SASRecConfig(embed_dim=32, dropout=0.2, loss=loss))
    Trainer(model, TrainConfig(epochs=epochs, batch_size=64, lr=3e-3, progress=False,
                               device="cpu")).fit(data.sequences)  # fmt: skip
    model.eval()
    with torch.no_grad():
        users = model.user_embedding(test.users)  # (U, D): the output at the last position
        items = model.item_embedding(data.items)  # (N, D): the same table that embeds the input
    out = full_ranking(users, items, test.targets, None, exclude_items=padding, ks=(10,))
    print(f"SASRec, {loss.upper():3s}  HR@10 = {out['hr@10']:.3f}  NDCG@10 = {out['ndcg@10']:.3f}")

popular = full_ranking(torch.ones(len(test), 1), data.item_counts[:, None], test.targets, None,
                       exclude_items=padding, ks=(10,))  # fmt: skip
print(f"popularity   HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
scores = users[0] @ items.T  # user 0 against the catalogue
scores[0] = float("-inf")  # never recommend padding
print("user", int(test.user_ids[0]), "top-5 item ids:", scores.topk(5).indices.tolist())
