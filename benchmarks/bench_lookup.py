"""Embedding look-up, forward and backward, on one CPU thread: ``nn.Embedding`` against ``embedding_rows``.

Both compute the same rows and the same gradient for a table whose row 0 is padding. The difference
is the backward pass: on the CPU, ``nn.Embedding`` sorts the ids when a batch holds more than 3000
of them, ``recnotes.layers.embedding_rows`` scatters the gradient with one ``index_add_``. Cases:

* ``packed``: all fields in one table, as ``PackedEmbedding`` and DeepFM's tables hold them
  (ML-1M CTR: 13,153 rows, batch 1024 x 6 fields, width 16; and the width-1 first-order table);
* ``field``: one field's own table at batch 4096 (the Frappe batch size).

Each figure is the median of ``--repeats`` runs of ``--steps`` forward + backward passes, after
``--warmup`` untimed ones; the two look-ups alternate run by run. Writes ``results/benchmarks/lookup.json`` (or ``--out``).

    python benchmarks/bench_lookup.py [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
from torch import nn

from recnotes.layers import embedding_rows
from recnotes.results import RESULTS_DIR, benchmark_report, time_alternately, write_report

#: (name, table rows, ids per batch as (rows, fields), width)
CASES = (
    ("packed", 13_153, (1024, 6), 16),
    ("packed-first-order", 13_153, (1024, 6), 1),
    ("field", 4_082, (4096, 1), 10),
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100, help="passes per timed run")
    parser.add_argument("--warmup", type=int, default=20, help="untimed passes first")
    parser.add_argument("--repeats", type=int, default=21, help="timed runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="20 passes, 1 run")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "benchmarks" / "lookup.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats = 20, 2, 1
    return args


def time_pair(table: nn.Embedding, ids: torch.Tensor, grad: torch.Tensor, args) -> tuple[float, float]:
    """Median microseconds of one forward + backward pass: ``nn.Embedding``, ``embedding_rows``.

    The two alternate run by run (which one goes first alternates too), so a machine whose speed
    drifts over the measurement slows both alike.
    """

    def runner(lookup):
        def one() -> None:
            table.weight.grad = None
            lookup(table, ids).backward(grad)

        return one

    ones = (runner(lambda t, i: t(i)), runner(embedding_rows))
    base, ours = time_alternately(ones, steps=args.steps, warmup=args.warmup, repeats=args.repeats)
    return base * 1e6, ours * 1e6


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    load_before = os.getloadavg()  # a shared machine's load moves every figure; say what it was
    gen = torch.Generator().manual_seed(0)
    figures = {}
    for name, rows, shape, width in CASES:
        table = nn.Embedding(rows, width, padding_idx=0)
        ids = torch.randint(0, rows, shape, generator=gen)
        grad = torch.randn(*shape, width, generator=gen)
        # the two must agree before their times mean anything
        table(ids).backward(grad)
        expected, table.weight.grad = table.weight.grad, None
        embedding_rows(table, ids).backward(grad)
        if not torch.allclose(table.weight.grad, expected, atol=1e-5):
            raise AssertionError(f"{name}: embedding_rows' gradient differs from nn.Embedding's")
        base, ours = time_pair(table, ids, grad, args)
        figures[name] = {
            "table_rows": rows,
            "ids": shape[0] * shape[1],
            "width": width,
            "nn_embedding_us": base,
            "embedding_rows_us": ours,
            "speedup": base / ours,
        }
        print(f"{name:20s} nn.Embedding {base:8.1f} us  embedding_rows {ours:8.1f} us  "
              f"x{base / ours:.2f}", flush=True)  # fmt: skip
    report = benchmark_report(
        "benchmarks/bench_lookup.py",
        argv,
        load_before=load_before,
        threads=1,
        settings={
            "steps": args.steps,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "quick": args.quick,
            "timed": "one forward + backward pass of the look-up (ids drawn uniformly, padding "
            "included), microseconds, median of the runs; the two look-ups alternate run by run",
        },
        figures=figures,
    )
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
