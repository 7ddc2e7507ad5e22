"""Train DCN-V2 (stacked) and DCN-Mix on the synthetic clicks; compare with item popularity."""

import torch

from recnotes.data import SyntheticConfig, make_synthetic, random_split
from recnotes.evaluate import evaluate_ctr
from recnotes.ranking import DCNMixConfig, DCNv2, DCNv2Config
from recnotes.train import TrainConfig, Trainer, seed_everything

# Impressions with user and item features, a log-price and the last 10 clicks as sequences.
data = make_synthetic(SyntheticConfig(num_users=500, num_items=300), seed=0)
table = data.ctr_table(history_len=10)
schema = table.schema.select([n for n in table.schema.names() if n != "conversion"])
train_rows, _, test_rows = random_split(data.impressions, (0.9, 0.1), seed=0)
train, test = (table.subset(torch.tensor(rows.index)) for rows in (train_rows, test_rows))

configs = {
    "DCN-V2": DCNv2Config(embed_dim=16, num_cross_layers=2, structure="stacked", hidden=(64, 32)),
    "DCN-Mix": DCNMixConfig(embed_dim=16, num_cross_layers=2, low_rank=16, num_experts=4,
                            structure="parallel", hidden=(64, 32)),
}  # fmt: skip
aucs = {}
for name, model_config in configs.items():
    seed_everything(0)
    model = DCNv2(schema, model_config)
    cross = sum(p.numel() for p in model.cross.parameters())
    print(f"{name}: x_0 width {model.input_dim}, cross network parameters {cross}")
    config = TrainConfig(epochs=2, batch_size=512, lr=2e-3, label="click", progress=False)
    Trainer(model, config).fit(train)
    model.eval()
    with torch.no_grad():
        aucs[name] = evaluate_ctr(model(test[:]), test.columns["click"])["auc"]

# DCN-Mix: how the first layer's gates share the test rows among its four experts.
with torch.no_grad():
    gates = model.cross[0].gates(model.stack(test[:]))  # (B, 4), each row sums to one
print("mean gate per expert:", [round(g, 2) for g in gates.mean(0).tolist()])

# The baseline: each item's click rate in the training rows (smoothed towards the global rate).
items, clicks = train.columns["item_ids"], train.columns["click"]
shown = torch.bincount(items, minlength=schema["item_ids"].vocab_size).float()
clicked = torch.bincount(items, weights=clicks, minlength=schema["item_ids"].vocab_size)
item_ctr = (clicked + clicks.mean() * 10) / (shown + 10)
popularity = evaluate_ctr(item_ctr[test.columns["item_ids"]], test.columns["click"])["auc"]

for name, auc in aucs.items():
    print(f"{name:<15} test AUC {auc:.3f}")
print(f"item popularity test AUC {popularity:.3f}")
print("both beat popularity:", min(aucs.values()) > popularity)
