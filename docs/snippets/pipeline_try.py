"""Try the pipeline: train every stage on the synthetic data in seconds and follow one user."""

from recnotes.data.retrieval import retrieval_synthetic
from recnotes.pipeline import quick_config, train_pipeline

data = retrieval_synthetic()  # 600 users, 300 items; leave-one-out
config = quick_config(recall_epochs=1, rank_epochs=1, max_rank_rows=2000)  # tiny models, seconds
pipe = train_pipeline(data, config, log=lambda line: None)

rec = pipe.recommend_for_user(7, topk_recall=50, topk_final=5, lambda_mmr=0.5)
print(" -> ".join(f"{stage} {size}" for stage, size in rec.funnel.items()))
for row in rec.items:
    print(f"{row['item_id']:>4}  rank {row['rank_score']:+.2f}  {row['title']}")
