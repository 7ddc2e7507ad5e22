"""How long evaluation takes at MovieLens-1M scale.

Full ranking of 6,040 users x 3,706 items (random D=64 vectors, about 165 seen items per user as a
random CSR, seen items filtered) with HR@10, NDCG@10, Recall@50 and MRR; then the sampled protocol
with 100 candidates per user (the target + 99 seeded uniform negatives, sampling included).
Prints the median wall time of 3 runs of each.

    python benchmarks/bench_eval.py [--users 6040] [--items 3706] [--dim 64] [--seen 165]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from recnotes.evaluate import (
    build_seen,
    dot_scorer,
    full_ranking,
    sample_negatives,
    sampled_ranking,
)


def median_time(fn, repeats: int = 3) -> tuple[float, object]:
    times, result = [], {}
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=6040)
    parser.add_argument("--items", type=int, default=3706)
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--seen", type=int, default=165, help="mean seen items per user")
    parser.add_argument("--batch-size", type=int, default=1024)
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(0)
    user_vectors = torch.randn(args.users, args.dim, generator=gen)
    item_vectors = torch.randn(args.items, args.dim, generator=gen)
    targets = torch.randint(0, args.items, (args.users,), generator=gen)
    # Random CSR: a random number of seen items per user with the requested mean.
    per_user = torch.randint(1, 2 * args.seen, (args.users,), generator=gen)
    users = torch.repeat_interleave(torch.arange(args.users), per_user)
    items = torch.randint(0, args.items, (users.numel(),), generator=gen)
    seen = build_seen(users, items, args.users)

    def full() -> dict:
        return full_ranking(
            user_vectors, item_vectors, targets, seen,
            ks=(10, 50), metrics=("hr", "ndcg", "recall", "mrr"), batch_size=args.batch_size,
        )  # fmt: skip

    def draw() -> torch.Tensor:
        return sample_negatives(targets, args.items, 99, seen, seed=0)

    negatives = draw()

    def rank_sampled() -> dict:
        return sampled_ranking(
            dot_scorer(user_vectors, item_vectors), targets, negatives,
            ks=(10,), metrics=("hr", "ndcg", "mrr"),
        )  # fmt: skip

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"{args.users} users x {args.items} items, D={args.dim}, "
        f"{users.numel() / args.users:.1f} seen items per user"
    )
    seconds, result = median_time(full)
    print(
        f"full ranking (seen filtered):   {seconds:.3f} s   "
        f"HR@10 {result['hr@10']:.4f}  NDCG@10 {result['ndcg@10']:.4f}  "
        f"Recall@50 {result['recall@50']:.4f}  MRR {result['mrr']:.4f}"
    )
    draw_seconds, _ = median_time(draw)
    rank_seconds, result = median_time(rank_sampled)
    print(
        f"sampled, 1 + 99 candidates:     {draw_seconds + rank_seconds:.3f} s   "
        f"HR@10 {result['hr@10']:.4f}  NDCG@10 {result['ndcg@10']:.4f}  MRR {result['mrr']:.4f}\n"
        f"  of which drawing negatives {draw_seconds:.3f} s, ranking {rank_seconds:.3f} s"
    )


if __name__ == "__main__":
    main()
