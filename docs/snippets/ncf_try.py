"""Train NeuMF on the synthetic clicks and rank each user's last click (docs: the NCF note)."""

import torch

from recnotes.data import Feature, FeatureTable, Schema, leave_one_out, make_synthetic
from recnotes.evaluate import build_seen, sample_negatives, sampled_ranking
from recnotes.losses import SampledNegativeBCE
from recnotes.recall import NeuMF, NeuMFConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

data = make_synthetic(seed=0)  # user and item ids start at 1; 0 is padding
train, _, test = leave_one_out(data.interactions())  # each user's last click is the test item
schema = Schema(
    [
        Feature("user_ids", "sparse", vocab_size=data.num_users + 1),
        Feature("item_ids", "sparse", vocab_size=data.num_items + 1),
    ]
)
columns = {"user_ids": train["user_id"].to_numpy(), "item_ids": train["item_id"].to_numpy()}
table = FeatureTable(columns, schema)  # positives only: the loss draws the negatives

seed_everything(0)
model = NeuMF(schema, NeuMFConfig(factors=16))
loss_fn = SampledNegativeBCE(data.num_items, num_negatives=4, seen=table, seed=0)
config = TrainConfig(epochs=3, batch_size=1024, lr=0.01, progress=False)
Trainer(model, config, loss_fn=loss_fn).fit(table)

# Each test item against 99 items its user never clicked in training (row u - 1 is user u).
targets = torch.full((data.num_users,), -1)  # -1: no test item, the user is skipped
targets[test["user_id"].to_numpy() - 1] = torch.tensor(test["item_id"].to_numpy())
seen = build_seen(
    torch.tensor(train["user_id"].to_numpy() - 1), table.columns["item_ids"], data.num_users
)
negatives = sample_negatives(targets, data.num_items + 1, 99, seen, exclude_items=torch.tensor([0]))
user_ids = torch.arange(1, data.num_users + 1)

model.eval()
with torch.no_grad():
    neumf = sampled_ranking(
        lambda rows, items: model.score(user_ids[rows], items), targets, negatives
    )
    clicks = torch.bincount(table.columns["item_ids"], minlength=data.num_items + 1).float()
    popular = sampled_ranking(lambda rows, items: clicks[items], targets, negatives)
    top = model.score(user_ids[:1], torch.arange(1, data.num_items + 1).unsqueeze(0)).topk(5)

print(f"users ranked: {neumf['users']}, candidates each: {negatives.shape[1] + 1}")
print(f"NeuMF       HR@10 = {neumf['hr@10']:.3f}  NDCG@10 = {neumf['ndcg@10']:.3f}")
print(f"popularity  HR@10 = {popular['hr@10']:.3f}  NDCG@10 = {popular['ndcg@10']:.3f}")
print("user 1, top-5 item ids:", (top.indices[0] + 1).tolist())
