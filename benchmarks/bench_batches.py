"""Throughput of BatchIterator on the ML-1M CTR table (``ctr-random-80-10-10``).

Builds the table from the real data under ``$RECNOTES_DATA`` (timed), then iterates the training
split shuffled, as the Trainer does, and prints batches/s and rows/s.

    RECNOTES_DATA=/path/to/data python benchmarks/bench_batches.py --batch-size 1024 [--threads 1]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import torch

from recnotes.data import BatchIterator
from recnotes.data.datasets import load_movielens_1m, movielens_1m_ctr
from recnotes.data.paths import data_dir


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--epochs", type=int, default=3, help="shuffled passes to time")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--threads", type=int, default=0, help="torch threads (0: torch's default, one per core)"
    )
    parser.add_argument(
        "--with-genres", action="store_true", help="add the genres sequence feature"
    )
    args = parser.parse_args()
    if args.batch_size < 1 or args.epochs < 1 or args.threads < 0:
        parser.error("--batch-size and --epochs must be >= 1, --threads >= 0")
    if args.threads:
        # batches are index gathers; on a busy machine extra threads cost more than they give
        torch.set_num_threads(args.threads)

    start = time.perf_counter()
    ml = load_movielens_1m()
    load_s = time.perf_counter() - start
    start = time.perf_counter()
    tables = movielens_1m_ctr(data=ml, seed=args.seed, with_genres=args.with_genres)
    build_s = time.perf_counter() - start

    iterator = BatchIterator(tables.train, batch_size=args.batch_size, shuffle=True, seed=args.seed)
    rows = batches = 0
    start = time.perf_counter()
    for epoch in range(args.epochs):
        iterator.set_epoch(epoch)
        for batch in iterator:
            rows += batch["label"].shape[0]
            batches += 1
    iterate_s = time.perf_counter() - start

    print(f"data: {data_dir()}  features: {', '.join(tables.schema.names())}")
    print(
        f"device: cpu ({os.cpu_count()} cores, {platform.processor() or platform.machine()}), "
        f"torch {torch.__version__}, threads {torch.get_num_threads()}"
    )
    print()
    print("| step | rows | seconds | batches/s | rows/s |")
    print("|---|---:|---:|---:|---:|")
    print(f"| load ML-1M | {len(ml.ratings):,} | {load_s:.2f} | – | – |")
    print(f"| build CTR tables | {sum(tables.sizes().values()):,} | {build_s:.2f} | – | – |")
    print(
        f"| iterate train, batch {args.batch_size}, shuffled, {args.epochs} epochs | {rows:,} | "
        f"{iterate_s:.2f} | {batches / iterate_s:,.0f} | {rows / iterate_s:,.0f} |"
    )


if __name__ == "__main__":
    main()
