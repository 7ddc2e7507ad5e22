"""How long the whole funnel takes to serve: one user at a time, and every user in batch.

Loads the pipeline saved by ``python -m recnotes pipeline train`` (``--pipeline``, default
``runs/pipeline``: MovieLens-1M, 3,706 items, 6,040 users), or with ``--quick`` trains a synthetic one
first. On one torch thread it times:

* ``recommend_for_user``: each of ``--users`` users drawn at random (seeded) once, after
  ``--warmup`` untimed calls; p50, p95 and mean of the wall-clock milliseconds, and p50 and p95 of
  the process CPU time (what the call costs when the machine is shared with other jobs). Recall 200 -> pre-rank 100 ->
  rank 100 -> MMR picks 20, titles and per-stage scores included;
* ``recommend_for_users``: every user of the test split in one call (stages batched over 1,024
  users, re-ranking per user), total wall-clock and CPU seconds.

Writes ``results/benchmarks/pipeline.json`` (or ``--out``) with the command, commit, device, date,
load average and the figures.

    python benchmarks/bench_pipeline.py [--pipeline runs/pipeline] [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from recnotes.results import RESULTS_DIR, benchmark_report, write_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pipeline", type=Path, default=Path("runs") / "pipeline",
                        help="a folder written by `python -m recnotes pipeline train`")  # fmt: skip
    parser.add_argument("--users", type=int, default=300, help="users timed one at a time")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls first")
    parser.add_argument("--seed", type=int, default=0, help="seed of the user sample")
    parser.add_argument("--batch-users", type=int, default=None,
                        help="users in the batched call (default: every test user)")  # fmt: skip
    parser.add_argument("--quick", action="store_true",
                        help="train a synthetic pipeline first (seconds); 50 users")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "benchmarks" / "pipeline.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.users, args.warmup = min(args.users, 50), 2
    return args


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100), linear interpolation between order statistics."""
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo, hi = int(pos), min(int(pos) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    if args.quick:
        from recnotes.data.retrieval import retrieval_synthetic
        from recnotes.pipeline import quick_config, train_pipeline

        pipe = train_pipeline(retrieval_synthetic(), quick_config(), log=lambda s: None)
    else:
        from recnotes.pipeline import load_pipeline

        print(f"loading the pipeline from {args.pipeline} ...", flush=True)
        pipe = load_pipeline(args.pipeline)
    user_ids = pipe.data.test.user_ids
    gen = torch.Generator().manual_seed(args.seed)
    sample = user_ids[torch.randperm(len(user_ids), generator=gen)[: args.users]].tolist()
    load_before = os.getloadavg()  # a shared machine's load moves every figure; say what it was
    for user in sample[: args.warmup]:
        pipe.recommend_for_user(user)
    times, cpu = [], []
    for user in sample:
        start, start_cpu = time.perf_counter(), time.process_time()
        pipe.recommend_for_user(user)
        times.append((time.perf_counter() - start) * 1000)
        cpu.append((time.process_time() - start_cpu) * 1000)
    everyone = user_ids if args.batch_users is None else user_ids[: args.batch_users]
    start, start_cpu = time.perf_counter(), time.process_time()
    batch = pipe.recommend_for_users(everyone)
    batch_s, batch_cpu = time.perf_counter() - start, time.process_time() - start_cpu
    c = pipe.config
    figures = {
        "single_user_ms": {
            "p50": percentile(times, 50),
            "p95": percentile(times, 95),
            "mean": statistics.fmean(times),
            "cpu_p50": percentile(cpu, 50),
            "cpu_p95": percentile(cpu, 95),
            "users": len(times),
        },
        "all_users": {"seconds": batch_s, "cpu_seconds": batch_cpu, "users": len(batch)},
    }
    print(
        f"recommend_for_user: p50 {figures['single_user_ms']['p50']:.1f} ms, p95 "
        f"{figures['single_user_ms']['p95']:.1f} ms over {len(times)} users (CPU time p50 "
        f"{figures['single_user_ms']['cpu_p50']:.1f} ms)\n"
        f"recommend_for_users: {len(batch)} users in {batch_s:.1f} s (CPU time {batch_cpu:.1f} s)",
        flush=True,
    )
    report = benchmark_report(
        "benchmarks/bench_pipeline.py",
        argv,
        load_before=load_before,
        threads=1,
        settings={
            "dataset": pipe.data.name,
            "catalogue": pipe.num_items - 1,
            "retrievers": list(pipe.retrievers),
            "ranker": c.ranker,
            "topk_recall": c.topk_recall,
            "topk_prerank": c.topk_prerank,
            "topk_final": c.topk_final,
            "reranker": c.reranker,
            "lambda_mmr": c.lambda_mmr,
            "index": "exact",
            "quick": args.quick,
        },
        figures=figures,
    )
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
