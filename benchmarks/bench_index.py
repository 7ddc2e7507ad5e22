"""Top-k retrieval speed and recall: exact (torch) against faiss flat, IVF and HNSW.

A synthetic catalogue of N item vectors (default 1,000,000 x 64, float32) and Q queries (default
1,000) from the same distribution; each query asks for its top-k (default 200) by inner product.
Two catalogues, because approximate search behaves very differently on them:

* ``mixture``: a Gaussian mixture, ``C`` centres ~ N(0, 4 I) and each vector = its centre +
  N(0, I) noise (C = 1,000 by default), which looks more like learned embeddings (items cluster by
  category) than isotropic noise;
* ``gaussian``: plain isotropic N(0, I), the hard case for ANN: no cluster structure to exploit.

For each catalogue: the exact search is timed and its ids are the reference; faiss flat, IVF and
HNSW are built (timed) and searched (timed), IVF over a sweep of ``nprobe`` and HNSW over a sweep of
``ef_search``, each sweep stopping at the first value that meets the target. recall@k is the share of the exact top-k that a kind returns. The setting reported
for IVF and HNSW is the cheapest in the sweep with recall@k >= the target (0.95); a kind whose sweep
never reaches it says so. Memory is the index's own bytes (``Index.nbytes``) and the growth of the
process's resident set while building. One thread by default (``--threads``).

    python benchmarks/bench_index.py                  # the full run (several minutes)
    python benchmarks/bench_index.py --quick          # a small smoke run (seconds)

Writes ``results/benchmarks/index.json`` (``--out``) with the command, commit, device, date,
settings and figures.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import date
from pathlib import Path
from typing import Any

import torch

from recnotes.index import build_index
from recnotes.results import RESULTS_DIR, describe_device, git_commit

TARGET = 0.95


def make_catalogue(
    name: str, n: int, q: int, d: int, clusters: int, seed: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """``(N, D)`` items and ``(Q, D)`` queries, drawn from the same distribution."""
    gen = torch.Generator().manual_seed(seed)
    if name == "gaussian":
        return torch.randn(n, d, generator=gen), torch.randn(q, d, generator=gen)
    centres = torch.randn(clusters, d, generator=gen) * 2.0
    items = centres[torch.randint(0, clusters, (n,), generator=gen)]
    items += torch.randn(n, d, generator=gen)
    queries = centres[torch.randint(0, clusters, (q,), generator=gen)]
    queries += torch.randn(q, d, generator=gen)
    return items, queries


def rss_mb() -> float:
    """Resident set size of this process (Linux /proc; 0 elsewhere)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def recall_at_k(ids: torch.Tensor, ref: torch.Tensor) -> float:
    """Share of the reference top-k ids found in each row of ``ids``, averaged."""
    hits = sum(len(set(a) & set(b)) for a, b in zip(ids.tolist(), ref.tolist()))
    return hits / ref.numel()


def timed_search(index, queries: torch.Tensor, k: int) -> tuple[float, torch.Tensor]:
    start = time.perf_counter()
    ids = index.search(queries, k)[1]
    return time.perf_counter() - start, ids


def run_catalogue(name: str, args: argparse.Namespace, log) -> dict[str, Any]:
    items, queries = make_catalogue(
        name, args.items, args.queries, args.dim, args.clusters, args.seed
    )
    q = queries.shape[0]
    rows: list[dict[str, Any]] = []
    ref = None
    for kind, build_params, sweep_name, sweep in (
        ("exact", {}, None, [None]),
        ("flat", {}, None, [None]),
        ("ivf", {"nlist": args.nlist}, "nprobe", args.nprobe),
        (
            "hnsw",
            {"m": args.m, "ef_construction": args.ef_construction},
            "ef_search",
            args.ef_search,
        ),
    ):
        before = rss_mb()
        index = build_index(items, kind, **build_params)
        grown = rss_mb() - before
        log(
            f"[{name}] {kind}: built in {index.build_time_s:.1f} s, {index.nbytes() / 2**20:.0f} MiB"
        )
        points = []
        for value in sweep:
            if sweep_name is not None:
                index.params[sweep_name] = value
            seconds, ids = timed_search(index, queries, args.k)
            if ref is None:
                ref = ids  # the exact search comes first
            recall = recall_at_k(ids, ref)
            point = {
                "search_s": seconds,
                "ms_per_query": 1000 * seconds / q,
                f"recall@{args.k}": recall,
            }
            if sweep_name is not None:
                point = {sweep_name: value, **point}
            points.append(point)
            log(
                f"[{name}] {kind}"
                + (f" {sweep_name}={value}" if sweep_name else "")
                + f": {seconds:.2f} s for {q} queries ({point['ms_per_query']:.2f} ms/query), "
                f"recall@{args.k} {recall:.4f}"
            )
            if recall >= TARGET:
                break  # the cheapest setting that meets the target is found
        meeting = [p for p in points if p[f"recall@{args.k}"] >= TARGET]
        chosen = meeting[0] if meeting else points[-1]
        setting = {k: v for k, v in index.params.items() if k != "seed"}
        if sweep_name is not None:
            setting[sweep_name] = chosen[sweep_name]
        rows.append(
            {
                "kind": kind,
                "setting": setting,
                "build_s": index.build_time_s,
                "index_mb": index.nbytes() / 2**20,
                "rss_growth_mb": grown,
                "search_s": chosen["search_s"],
                "ms_per_query": chosen["ms_per_query"],
                "recall": chosen[f"recall@{args.k}"],
                "meets_target": bool(meeting),
                "sweep": points if sweep_name is not None else [],
            }
        )
        del index
    return {
        "name": name,
        "items": args.items,
        "dim": args.dim,
        "queries": q,
        "clusters": args.clusters if name == "mixture" else None,
        "rows": rows,
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000, help="catalogue size N")
    parser.add_argument("--dim", type=int, default=64, help="vector dimension D")
    parser.add_argument("--queries", type=int, default=1000, help="number of queries Q")
    parser.add_argument("--k", type=int, default=200, help="results per query")
    parser.add_argument("--clusters", type=int, default=1000, help="mixture components")
    parser.add_argument(
        "--catalogues", nargs="+", default=["mixture", "gaussian"], choices=["mixture", "gaussian"]
    )
    parser.add_argument("--nlist", type=int, default=1024, help="IVF lists")
    parser.add_argument("--nprobe", type=int, nargs="+", default=[16, 32, 64, 128, 256, 512])
    parser.add_argument("--m", type=int, default=32, help="HNSW links per node")
    parser.add_argument("--ef-construction", type=int, default=40)
    parser.add_argument("--ef-search", type=int, nargs="+", default=[200, 400, 800, 1600, 3200])
    parser.add_argument("--threads", type=int, default=1, help="torch and faiss threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="a small smoke run (seconds)")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "benchmarks" / "index.json")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.quick:  # small enough for a test; explicit sizes are overridden
        args.items, args.dim, args.queries, args.k, args.clusters = 5000, 16, 50, 20, 50
        args.nlist, args.nprobe, args.ef_search = 64, [4, 16], [40, 80]
        args.catalogues = ["mixture"]
    return args


def main(argv: list[str] | None = None) -> Path:
    args = parse(argv)
    import faiss

    def log(message: str) -> None:
        if not args.quiet:
            print(message, flush=True)

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    start = time.perf_counter()
    log(
        f"torch {torch.__version__}, faiss {faiss.__version__}, {args.threads} thread(s); "
        f"{args.items:,} items x {args.dim}, {args.queries} queries, top-{args.k}"
    )
    catalogues = [run_catalogue(name, args, log) for name in args.catalogues]
    argv_used = sys.argv[1:] if argv is None else argv
    report = {
        "command": " ".join(["python benchmarks/bench_index.py", *argv_used]),
        "commit": git_commit(),
        "device": describe_device("cpu"),
        "date": date.today().isoformat(),
        "wall_time_s": time.perf_counter() - start,
        "settings": {
            "items": args.items,
            "dim": args.dim,
            "queries": args.queries,
            "k": args.k,
            "metric": "ip",
            "dtype": "float32",
            "threads": args.threads,
            "seed": args.seed,
            "target": f"recall@{args.k} >= {TARGET} against the exact top-{args.k}",
            "torch": torch.__version__,
            "faiss": faiss.__version__,
            "catalogues": {
                "mixture": f"{args.clusters} centres ~ N(0, 4I); vector = centre + N(0, I)",
                "gaussian": "isotropic N(0, I)",
            },
            "timing": "time.perf_counter around Index.search of all queries in one call; "
            "build_s is Index.build_time_s (IVF: k-means training + adding; HNSW: the graph)",
            "memory": "index_mb: Index.nbytes() (exact: the vectors; faiss: the serialised index); "
            "rss_growth_mb: resident set growth while building",
            "chosen_setting": "sweeps stop at the first value whose recall meets the target; "
            "that value is reported, or the last one when none does",
        },
        "catalogues": catalogues,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    log(f"wrote {args.out}")
    return args.out


if __name__ == "__main__":
    main()
