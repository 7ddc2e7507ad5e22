import torch

from recnotes.data import make_synthetic, random_split
from recnotes.evaluate import evaluate_ctr
from recnotes.ranking import EmbeddingMLP, EmbeddingMLPConfig
from recnotes.train import TrainConfig, Trainer

data = make_synthetic(seed=0)  # offline data with planted structure: 2,000 users, 220k impressions
table = data.ctr_table()  # every feature as a tensor column, checked against its schema
train, valid, test = (table.subset(part.index.to_numpy()) for part in random_split(data.impressions, seed=0))
model = EmbeddingMLP(table.schema, EmbeddingMLPConfig(embed_dim=16, hidden=(64, 32)))  # -> click logit
Trainer(model, TrainConfig(epochs=2, lr=3e-3, label="click", progress=False)).fit(train)
with torch.no_grad():
    metrics = evaluate_ctr(model.eval()(test[:]), test.columns["click"])
print(f"test AUC {metrics['auc']:.3f}, LogLoss {metrics['logloss']:.3f}")
