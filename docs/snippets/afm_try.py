"""Train AFM on the synthetic clicks, compare it with item popularity, and read its attention."""

import torch

from recnotes.data import SyntheticConfig, make_synthetic, random_split
from recnotes.evaluate import evaluate_ctr
from recnotes.layers import pair_indices
from recnotes.ranking import AFM, AFMConfig
from recnotes.ranking.afm import afm_loss
from recnotes.train import TrainConfig, Trainer, seed_everything

# Impressions with user and item features, a dense log-price and the last 10 clicks as sequences.
data = make_synthetic(SyntheticConfig(num_users=500, num_items=300), seed=0)
table = data.ctr_table(history_len=10)
schema = table.schema.select([n for n in table.schema.names() if n != "conversion"])
train_rows, _, test_rows = random_split(data.impressions, (0.9, 0.1), seed=0)
train, test = (table.subset(torch.tensor(rows.index)) for rows in (train_rows, test_rows))

seed_everything(0)
model = AFM(schema, AFMConfig(embed_dim=16, attention_dim=8, dropout=0.0, attention_l2=1e-4))
i, j = pair_indices(model.num_fields)  # the pairs, in the order of the attention weights
print("fields:", model.num_fields, " pairs:", len(i))  # F (F - 1) / 2
config = TrainConfig(epochs=2, batch_size=512, lr=5e-3, label="click", progress=False)
Trainer(model, config, loss_fn=lambda m, b: afm_loss(m, b, "click")).fit(train)  # adds the L2

model.eval()
with torch.no_grad():
    ours = evaluate_ctr(model(test[:]), test.columns["click"])
    weights = model.attention(test[:]).mean(dim=0)  # (P,): average weight of each pair

# The baseline: each item's click rate in the training rows (smoothed towards the global rate).
items, clicks = train.columns["item_ids"], train.columns["click"]
shown = torch.bincount(items, minlength=schema["item_ids"].vocab_size).float()
clicked = torch.bincount(items, weights=clicks, minlength=schema["item_ids"].vocab_size)
item_ctr = (clicked + clicks.mean() * 10) / (shown + 10)
popularity = evaluate_ctr(item_ctr[test.columns["item_ids"]], test.columns["click"])

print(f"AFM             test AUC {ours['auc']:.3f}  LogLoss {ours['logloss']:.3f}")
print(f"item popularity test AUC {popularity['auc']:.3f}")
print("beats popularity:", ours["auc"] > popularity["auc"])

names = model.fields + ["log_price"]  # field order: sparse and sequence fields, then dense columns
print("heaviest pairs:")
for k in weights.argsort(descending=True)[:3].tolist():
    print(f"  {names[i[k]]} x {names[j[k]]}: {weights[k]:.3f}")
