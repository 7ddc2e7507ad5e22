"""Evaluate one retriever under three protocols, and a CTR model (docs: evaluation page)."""

import torch

from recnotes.evaluate import dot_scorer, evaluate_ctr, full_ranking, sampled_ranking

# 3 users and 5 items as vectors: the score is the dot product.
user_vectors = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
item_vectors = torch.tensor([[3.0, 0.0], [2.0, 1.0], [0.0, 2.0], [1.0, 1.0], [0.0, 0.0]])
targets = torch.tensor([1, 3, 2])  # each user's held-out item
seen = [torch.tensor([0]), torch.tensor([2]), torch.tensor([0, 1])]  # training history


def show(name: str, result: dict) -> None:
    print(
        f"{name}: hr@2={result['hr@2']:.3f} ndcg@2={result['ndcg@2']:.3f} mrr={result['mrr']:.3f}"
    )


options = dict(ks=(2,), metrics=("hr", "ndcg", "mrr"))
# Protocol "full": every item is a candidate; seen items are filtered (never the target).
show("full, seen filtered", full_ranking(user_vectors, item_vectors, targets, seen, **options))
show("full, unfiltered", full_ranking(user_vectors, item_vectors, targets, None, **options))

# Protocol "fixed": each target against its own negatives (NCF's file has 99 per user).
negatives = torch.tensor([[0, 4], [2, 0], [3, 4]])
scorer = dot_scorer(user_vectors, item_vectors)
show("fixed negatives", sampled_ranking(scorer, targets, negatives, **options))

# A model that scores every item the same is no better than chance under the default tie rule,
# and looks perfect if ties are broken in the target's favour.
constant = torch.zeros(3, 2)
show("constant model", full_ranking(constant, item_vectors, targets, None, **options))
optimistic = full_ranking(constant, item_vectors, targets, None, tie_rule="optimistic", **options)
show("constant model, optimistic", optimistic)

# Protocol "ctr": AUC, LogLoss, and GAUC grouped by user (user 2 has only clicks: skipped).
ctr = evaluate_ctr(
    logits=torch.tensor([2.0, -1.0, 0.5, 1.0, 0.3, -0.2]),
    labels=torch.tensor([1, 0, 0, 1, 1, 1]),
    groups=torch.tensor([0, 0, 1, 1, 2, 2]),
)
print(
    f"ctr: auc={ctr['auc']:.3f} logloss={ctr['logloss']:.3f} gauc={ctr['gauc']:.3f} "
    f"skipped={ctr['gauc_skipped_groups']} groups/{ctr['gauc_skipped_impressions']} impressions"
)
