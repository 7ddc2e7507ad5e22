"""Training and evaluation speed of the first models on MovieLens-1M, on this machine's CPU.

Reports:

1. Embedding&MLP training samples/s on the ML-1M CTR table (DCN-V2 protocol train split,
   batch 1024, embedding 16, MLP 400-400-400 as in the model's defaults otherwise);
2. NeuMF training samples/s on the NCF training set (994,169 positives, 4 sampled negatives each,
   batch 1024 positives; a "sample" is one scored (user, item) pair, positives and negatives alike);
3. the wall time of the NCF evaluation: 6,040 users x 100 candidates (the fixed 99 negatives),
   HR@10 and NDCG@10, with a trained-size NeuMF.

Each training figure is the median over ``--repeats`` timed runs of ``--steps`` optimiser steps,
after ``--warmup`` untimed steps. Needs the real data under ``RECNOTES_DATA``.

    python benchmarks/bench_models.py [--threads 2] [--steps 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

from recnotes.data import BatchIterator, FeatureTable
from recnotes.data.datasets import load_ncf_movielens_1m, movielens_1m_ctr
from recnotes.evaluate import sampled_ranking
from recnotes.losses import SampledNegativeBCE
from recnotes.ranking import EmbeddingMLP, EmbeddingMLPConfig
from recnotes.recall.ncf import NeuMF, NeuMFConfig
from recnotes.train import default_loss, seed_everything


def time_training(model, loss_fn, batches, *, steps: int, warmup: int, repeats: int) -> list[float]:
    """Seconds per ``steps`` optimiser steps, ``repeats`` times, after ``warmup`` steps."""
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    stream = iter(())

    def next_batch():
        nonlocal stream
        try:
            return next(stream)
        except StopIteration:
            stream = iter(batches)
            return next(stream)

    def step():
        loss = loss_fn(model, next_batch())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--steps", type=int, default=200, help="timed steps per repeat")
    parser.add_argument("--warmup", type=int, default=20, help="untimed steps first")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats (median reported)")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--json", help="also write the figures to this JSON file")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(0)
    rows: dict[str, float | str] = {
        "device": f"cpu: {platform.processor() or platform.machine()}",
        "torch_threads": args.threads,
        "batch_size": args.batch_size,
    }

    # 1. Embedding&MLP on the ML-1M CTR table.
    split = movielens_1m_ctr(seed=0)
    model = EmbeddingMLP(split.schema, EmbeddingMLPConfig(embed_dim=16, check_inputs=False))
    batches = BatchIterator(split.train, args.batch_size, seed=0)
    times = time_training(model, default_loss, batches, steps=args.steps, warmup=args.warmup,
                          repeats=args.repeats)
    rows["embedding_mlp_samples_per_s"] = args.steps * args.batch_size / statistics.median(times)

    # 2. NeuMF on the NCF training set (ids shifted to 1-based; 0 is padding).
    ncf = load_ncf_movielens_1m()
    users = torch.tensor(ncf.train["user_id"].to_numpy() + 1)
    items = torch.tensor(ncf.train["item_id"].to_numpy() + 1)
    from recnotes.data import Feature, Schema

    schema = Schema([Feature("user_ids", "sparse", vocab_size=ncf.num_users + 1),
                     Feature("item_ids", "sparse", vocab_size=ncf.num_items + 1)])
    train = FeatureTable({"user_ids": users, "item_ids": items}, schema)
    neumf = NeuMF(schema, NeuMFConfig(factors=8))
    loss_fn = SampledNegativeBCE(ncf.num_items, 4, seen=(users, items), seed=0)
    times = time_training(neumf, loss_fn, BatchIterator(train, args.batch_size, seed=0),
                          steps=args.steps, warmup=args.warmup, repeats=args.repeats)
    pairs = args.batch_size * (1 + 4)
    rows["neumf_pairs_per_s"] = args.steps * pairs / statistics.median(times)
    rows["neumf_positives_per_s"] = args.steps * args.batch_size / statistics.median(times)

    # 3. The NCF evaluation: 6,040 users x (1 target + 99 fixed negatives).
    test_users = torch.tensor(ncf.test["user_id"].to_numpy() + 1)
    targets = torch.tensor(ncf.test["item_id"].to_numpy() + 1)
    negatives = torch.tensor(ncf.negatives + 1)
    neumf.eval()

    def score_fn(rows_: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        return neumf.score(test_users[rows_], candidates)

    eval_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        with torch.no_grad():
            sampled_ranking(score_fn, targets, negatives, ks=(10,), metrics=("hr", "ndcg"),
                            target_in_negatives="ignore")
        eval_times.append(time.perf_counter() - start)
    rows["ncf_evaluation_s"] = statistics.median(eval_times)
    rows["ncf_evaluation_users"] = int(targets.numel())

    width = max(map(len, rows))
    for key, value in rows.items():
        shown = f"{value:,.0f}" if isinstance(value, float) and value > 100 else (
            f"{value:.3f}" if isinstance(value, float) else str(value))
        print(f"{key:<{width}}  {shown}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
