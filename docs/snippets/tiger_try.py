"""Train a small TIGER on synthetic clicks and serve it with constrained beam search (TIGER note)."""

import torch
import torch.nn.functional as F

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking, full_ranking_fn, scores_from_topk
from recnotes.generative import TIGER, RQVAEConfig, TIGERConfig, semantic_ids, train_rqvae
from recnotes.train import TrainConfig, Trainer, seed_everything

data = retrieval_synthetic(num_users=200, num_items=150, max_len=8)
padding = torch.tensor([0])

# 1. Semantic ids from item content (category and brand one-hots), as in the RQ-VAE note.
category = F.one_hot(data.items["item_category"][1:], 21)
brand = F.one_hot(data.items["item_brand"][1:], 101)
content = torch.cat([category, brand], dim=1).float()  # (N, E)
config = RQVAEConfig(input_dim=content.shape[1], hidden=(32,), code_dim=8, codebook_size=8)
rqvae, _ = train_rqvae(content, config, epochs=20, batch_size=128, lr=3e-3, seed=0)
ids = semantic_ids(rqvae.codes(content), torch.arange(1, data.num_items), codebook_size=8)

# 2. TIGER reads the history's tokens and writes the next item's id, token by token.
seed_everything(0)
small = TIGERConfig(d_model=32, num_heads=2, head_dim=16, d_ff=64, beam_size=10,
                    encoder_layers=1, decoder_layers=1)  # fmt: skip
model = TIGER(data.schema, small, ids=ids)
train = TrainConfig(epochs=4, batch_size=128, lr=3e-3, progress=False, device="cpu")
Trainer(model, train).fit(data.train)

# 3. Constrained beam search: every list holds real, distinct items.
test = data.test
ranked = model.recommend(test.users, k=10)  # (U, 10) item ids
real = bool(((ranked >= 1) & (ranked < data.num_items)).all())
distinct = all(len(set(row)) == 10 for row in ranked.tolist())
print("lists:", tuple(ranked.shape), "| only real items:", real, "| distinct:", distinct)

# 4. The lists go through the same full-ranking path as every retriever.
out = full_ranking_fn(lambda rows: scores_from_topk(ranked[rows], data.num_items),
                      test.targets, None, exclude_items=padding, ks=(10,))  # fmt: skip
print(f"TIGER       HR@10 = {out['hr@10']:.3f}  NDCG@10 = {out['ndcg@10']:.3f}")
counts = data.item_counts[:, None]  # rank every item by its popularity
popular = full_ranking(torch.ones(len(test), 1), counts, test.targets, None,
                       exclude_items=padding, ks=(10,))  # fmt: skip
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
print("user", int(test.user_ids[0]), "top-5 item ids:", ranked[0, :5].tolist())
