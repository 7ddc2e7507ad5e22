"""How long the re-rankers take for 1,000 picks from 5,000 candidates on one CPU thread.

Random unit item vectors (D = 64) and standard-normal scores, seeded. Timed, each the median of
``--repeats`` runs:

* ``dpp_window``: ``dpp_rerank`` with a sliding window of 10 (Algorithm 2) picking 1,000 items;
* ``dpp_full_kernel``: Algorithm 1 (``dpp_greedy_map``) on an explicit full-rank kernel
  ``Diag(r) (S + 0.1 I) Diag(r)`` in float64 picking 1,000 items (kernel built outside the timing);
* ``dpp_full_rerank``: ``dpp_rerank`` without a window on the D = 64 vectors: ``S`` has rank 64, so
  it stops after at most 64 picks (the figure says how many);
* ``mmr``: ``mmr_rerank`` picking 1,000 items.

Writes ``results/benchmarks/rerank.json`` (or ``--out``) with the command, commit, device, date,
load average and the figures.

    python benchmarks/bench_rerank.py [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import torch

from recnotes.rerank import DPPConfig, MMRConfig, dpp_greedy_map, dpp_kernel, dpp_rerank, mmr_rerank
from recnotes.results import RESULTS_DIR, benchmark_report, write_report


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=5000, help="candidates N")
    parser.add_argument("--picks", type=int, default=1000, help="items to pick k")
    parser.add_argument("--dim", type=int, default=64, help="item-vector width D")
    parser.add_argument("--window", type=int, default=10, help="DPP sliding window")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="200 items, 50 picks, 1 run")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "benchmarks" / "rerank.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.items, args.picks, args.repeats = 200, 50, 1
    return args


def median_seconds(fn, repeats: int) -> tuple[float, torch.Tensor]:
    times, out = [], torch.empty(0)
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()  # a shared machine's load moves every figure; say what it was
    gen = torch.Generator().manual_seed(0)
    vectors = torch.nn.functional.normalize(torch.randn(args.items, args.dim, generator=gen), dim=1)
    scores = torch.randn(args.items, generator=gen)
    theta = 0.5
    kernel = dpp_kernel(scores.double(), vectors.double(), theta)
    kernel += 0.1 * torch.diag(kernel.diagonal())  # Diag(r) (S + 0.1 I) Diag(r): full rank

    cases = {
        "dpp_window": lambda: dpp_rerank(
            scores, vectors, args.picks, DPPConfig(theta=theta, window=args.window)
        ),
        "dpp_full_kernel": lambda: dpp_greedy_map(kernel, args.picks),
        "dpp_full_rerank": lambda: dpp_rerank(scores, vectors, args.picks, DPPConfig(theta=theta)),
        "mmr": lambda: mmr_rerank(scores, vectors, args.picks, MMRConfig(lambda_=0.5)),
    }
    figures = {}
    for name, fn in cases.items():
        seconds, order = median_seconds(fn, args.repeats)
        figures[name] = {"seconds": seconds, "picks": len(order)}
        print(f"{name:16s} {len(order):5d} picks from {args.items} in {seconds:.3f} s", flush=True)

    report = benchmark_report(
        "benchmarks/bench_rerank.py",
        argv,
        load_before=load_before,
        threads=1,
        settings={
            "items": args.items,
            "picks": args.picks,
            "dim": args.dim,
            "window": args.window,
            "theta": theta,
            "lambda": 0.5,
            "repeats": args.repeats,
            "quick": args.quick,
            "dtype": "float32 inputs; dpp_rerank computes in float64; kernel float64",
        },
        figures=figures,
    )
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
