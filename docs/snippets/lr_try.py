"""Train LR on the synthetic clicks, compare it with item popularity and read its weights (docs: its note)."""

import torch

from recnotes.data import SyntheticConfig, make_synthetic, random_split
from recnotes.evaluate import evaluate_ctr
from recnotes.ranking import LR
from recnotes.train import TrainConfig, Trainer, seed_everything

# Impressions with user and item features, a log-price, and the last 10 clicks as sequences.
data = make_synthetic(SyntheticConfig(num_users=500, num_items=300), seed=0)
table = data.ctr_table(history_len=10)
schema = table.schema.select([n for n in table.schema.names() if n != "conversion"])
train_rows, _, test_rows = random_split(data.impressions, (0.9, 0.1), seed=0)
train, test = (table.subset(torch.tensor(rows.index)) for rows in (train_rows, test_rows))

seed_everything(0)
model = LR(schema)
print(
    "weights:", sum(p.numel() for p in model.parameters())
)  # one per id, one per dense column, w0
config = TrainConfig(epochs=3, batch_size=512, lr=1e-2, label="click", progress=False)
Trainer(model, config).fit(train)

model.eval()
with torch.no_grad():
    ours = evaluate_ctr(model(test[:]), test.columns["click"])

# The baseline: each item's click rate in the training rows (smoothed towards the global rate).
items, clicks = train.columns["item_ids"], train.columns["click"]
shown = torch.bincount(items, minlength=schema["item_ids"].vocab_size).float()
clicked = torch.bincount(items, weights=clicks, minlength=schema["item_ids"].vocab_size)
item_ctr = (clicked + clicks.mean() * 10) / (shown + 10)
popularity = evaluate_ctr(item_ctr[test.columns["item_ids"]], test.columns["click"])

print(f"LR              test AUC {ours['auc']:.3f}  LogLoss {ours['logloss']:.3f}")
print(f"item popularity test AUC {popularity['auc']:.3f}")

# An item's weight is its click propensity with the other fields held fixed.
w_item = model.linear.weights["item_ids"].weight.detach().squeeze(-1)
often = shown >= 30  # items seen often enough for a stable click rate
ranks = lambda x: x.argsort().argsort().float()  # noqa: E731
corr = torch.corrcoef(torch.stack([ranks(w_item[often]), ranks(item_ctr[often])]))[0, 1]
print(f"rank correlation of item weights with item click rates: {corr:.2f}")
