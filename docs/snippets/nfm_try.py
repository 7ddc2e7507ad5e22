"""Train NFM on the synthetic clicks and compare it with item popularity (docs: its note)."""

import torch

from recnotes.data import SyntheticConfig, make_synthetic, random_split
from recnotes.evaluate import evaluate_ctr
from recnotes.ranking import NFM, NFMConfig
from recnotes.train import TrainConfig, Trainer, seed_everything

# Impressions with user and item features, a dense log-price and the last 10 clicks as sequences.
data = make_synthetic(SyntheticConfig(num_users=500, num_items=300), seed=0)
table = data.ctr_table(history_len=10)
schema = table.schema.select([n for n in table.schema.names() if n != "conversion"])
train_rows, _, test_rows = random_split(data.impressions, (0.9, 0.1), seed=0)
train, test = (table.subset(torch.tensor(rows.index)) for rows in (train_rows, test_rows))

seed_everything(0)
model = NFM(schema, NFMConfig(embed_dim=16, hidden=(32,), bi_dropout=0.2, dropout=0.1))
print("fields:", model.num_fields)  # 9 sparse + 2 sequences + 1 dense column
with torch.no_grad():
    print("Bi-Interaction:", tuple(model.bi_interaction(train[:512]).shape))  # one vector per row
config = TrainConfig(epochs=2, batch_size=512, lr=2e-3, label="click", progress=False)
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

print(f"NFM             test AUC {ours['auc']:.3f}  LogLoss {ours['logloss']:.3f}")
print(f"item popularity test AUC {popularity['auc']:.3f}")
print("beats popularity:", ours["auc"] > popularity["auc"])
