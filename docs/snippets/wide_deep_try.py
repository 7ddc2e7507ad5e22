"""Train Wide&Deep with a user x item cross on the synthetic clicks; compare with item popularity."""

import torch

from recnotes.data import SyntheticConfig, make_synthetic, random_split
from recnotes.evaluate import evaluate_ctr
from recnotes.ranking import WideDeep, WideDeepConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

# Impressions with user and item features and the last 10 clicks as a history sequence.
data = make_synthetic(SyntheticConfig(num_users=500, num_items=300), seed=0)
table = data.ctr_table(history_len=10)
schema = table.schema.select([n for n in table.schema.names() if n != "conversion"])
train_rows, _, test_rows = random_split(data.impressions, (0.9, 0.1), seed=0)
train, test = (table.subset(torch.tensor(rows.index)) for rows in (train_rows, test_rows))

seed_everything(0)
# 501 users x 301 items fit in 160,000 buckets, so every (user, item) pair has its own wide weight.
config = WideDeepConfig(
    embed_dim=16, hidden=(64, 32), crosses=(("user_ids", "item_ids"),), cross_buckets=160_000
)
model = WideDeep(schema, config)
cross = model.cross_ids(test[:])
print("distinct (user, item) cross ids in the test rows:", len(cross.unique()))
Trainer(model, TrainConfig(epochs=2, batch_size=512, lr=2e-3, label="click", progress=False)).fit(
    train
)

model.eval()
with torch.no_grad():
    batch = test[:]
    logits, wide, deep = model(batch), model.wide(batch), model.deep(batch)
ours = evaluate_ctr(logits, test.columns["click"])
print("logit = wide + deep:", torch.allclose(logits, wide + deep, atol=1e-5))

# The baseline: each item's click rate in the training rows (smoothed towards the global rate).
items, clicks = train.columns["item_ids"], train.columns["click"]
shown = torch.bincount(items, minlength=schema["item_ids"].vocab_size).float()
clicked = torch.bincount(items, weights=clicks, minlength=schema["item_ids"].vocab_size)
item_ctr = (clicked + clicks.mean() * 10) / (shown + 10)
popularity = evaluate_ctr(item_ctr[test.columns["item_ids"]], test.columns["click"])

print(f"Wide&Deep       test AUC {ours['auc']:.3f}  LogLoss {ours['logloss']:.3f}")
print(f"item popularity test AUC {popularity['auc']:.3f}")
print("beats popularity:", ours["auc"] > popularity["auc"])
