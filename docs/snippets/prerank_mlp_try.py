"""Try the pre-rank MLP: learn a click rule that the retriever's inner product alone cannot express."""

import torch

from recnotes import metrics
from recnotes.data import FeatureTable
from recnotes.prerank import PreRankMLP, PreRankMLPConfig, prerank_schema
from recnotes.train import TrainConfig, Trainer, seed_everything

seed_everything(0)
gen = torch.Generator().manual_seed(0)
u = torch.nn.functional.normalize(torch.randn(6000, 8, generator=gen), dim=1)  # user vectors
v = torch.nn.functional.normalize(torch.randn(6000, 8, generator=gen), dim=1)  # item vectors
score = (u * v).sum(-1)  # the retriever's score
# a click rule a dot product cannot rank: strong agreement *or* strong disagreement clicks
label = (torch.rand(6000, generator=gen) < torch.sigmoid(8 * (score.abs() - 0.4))).float()
batch = {"user_vector": u, "item_vector": v, "recall_score": score, "label": label}
train, test = (
    FeatureTable({k: x[:5000] for k, x in batch.items()}, prerank_schema(8)),
    {k: x[5000:] for k, x in batch.items()},
)

model = PreRankMLP(prerank_schema(8), PreRankMLPConfig(hidden=(32, 16)))
Trainer(model, TrainConfig(epochs=10, batch_size=250, lr=5e-3, progress=False)).fit(train)
model.eval()
with torch.no_grad():
    logits = model(test)
print(f"AUC of the recall score alone: {metrics.auc(test['label'], test['recall_score']):.2f}")
print(f"AUC of the pre-rank MLP:       {metrics.auc(test['label'], logits):.2f}")
