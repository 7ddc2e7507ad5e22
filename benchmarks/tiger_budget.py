"""What TIGER's Beauty training budget costs on this machine: measured steps, then arithmetic.

TIGER (Rajput et al., NeurIPS 2023) trains its Beauty model for 200,000 steps of batch 256. This
script measures what one such step costs here and multiplies it out, so the TIGER note can say how
long the paper's run, and one epoch of ours, would take on the CPU, instead of guessing.

What it does, on the real Beauty data (``$RECNOTES_DATA``; ``--quick`` uses the embedded synthetic
data instead):

1. builds TIGER with the paper's sizes (``TIGERConfig()``: 4 + 4 layers, 6 heads x 64, d_model 128,
   MLP 1024) over **random valid semantic ids** (3 seeded uniform codes of 256 and the collision
   token per item; what a step costs does not depend on which codes the RQ-VAE picked);
2. draws ``--steps`` batches of ``--batch-size`` real training rows (history -> next item) at
   random and times each full step: loss, backward, AdamW (the first ``--warmup`` untimed);
3. reports the median wall-clock and CPU seconds per step, training rows per second, the steps and
   seconds of one epoch over every training row, and the hours of the paper's 200k steps.

Writes ``results/benchmarks/tiger-budget.json`` (or ``--out``) with the command, commit, device,
date and load average.

    python benchmarks/tiger_budget.py [--steps 20] [--threads 1] [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import torch

from recnotes.data.retrieval import retrieval_amazon, retrieval_synthetic
from recnotes.generative.rqvae import semantic_ids
from recnotes.generative.tiger import TIGER, TIGERConfig
from recnotes.results import RESULTS_DIR, benchmark_report, write_report

PAPER_STEPS = 200_000  # TIGER paper, Sec. 4.1: 200k steps on Beauty and Sports (100k on Toys)
PAPER_BATCH = 256
QUICK_SIZES = {"d_model": 16, "num_heads": 2, "head_dim": 8, "d_ff": 32, "encoder_layers": 1,
               "decoder_layers": 1}  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch-size", type=int, default=PAPER_BATCH, help="rows per step (paper: 256)")
    p.add_argument("--steps", type=int, default=20, help="timed steps (median)")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--codebook-size", type=int, default=256)
    p.add_argument("--quick", action="store_true", help="synthetic data, tiny model, 2 steps")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "benchmarks" / "tiger-budget.json")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_size, args.steps, args.warmup, args.codebook_size = 16, 2, 1, 8
    for name in ("batch_size", "steps", "threads", "codebook_size"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.warmup < 0:
        p.error("--warmup must be >= 0")
    return args


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    data = (
        retrieval_synthetic(num_users=100, num_items=40, max_len=5)
        if args.quick
        else retrieval_amazon("beauty", max_len=20)
    )
    items = data.num_items - 1  # ids 1..N; 0 pads
    gen = torch.Generator().manual_seed(0)
    codes = torch.randint(0, args.codebook_size, (items, 3), generator=gen)
    ids = semantic_ids(codes, torch.arange(1, items + 1), args.codebook_size)
    torch.manual_seed(0)
    config = TIGERConfig(**QUICK_SIZES) if args.quick else TIGERConfig()
    model = TIGER(data.schema, config, ids=ids)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    rows = len(data.train)
    picks = torch.randint(0, rows, (args.warmup + args.steps, args.batch_size), generator=gen)
    batches = [data.train[p] for p in picks]

    load_before = os.getloadavg()
    model.train()
    wall, cpu = [], []
    for i, batch in enumerate(batches):
        start, start_cpu = time.perf_counter(), time.process_time()
        optimizer.zero_grad(set_to_none=True)
        model.loss(batch).backward()
        optimizer.step()
        if i >= args.warmup:
            wall.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        print(f"step {i + 1}/{len(batches)}: {wall[-1] if wall else time.perf_counter() - start:.3f} s",
              flush=True)  # fmt: skip
    step = statistics.median(wall)
    step_cpu = statistics.median(cpu)
    steps_per_epoch = -(-rows // args.batch_size)
    figures = {
        "train_rows": rows,
        "num_params": sum(p.numel() for p in model.parameters()),
        "train_step_s": round(step, 5),
        "train_step_cpu_s": round(step_cpu, 5),
        "train_rows_per_s": round(args.batch_size / step, 1),
        "steps_per_epoch": steps_per_epoch,
        "epoch_hours": round(steps_per_epoch * step / 3600, 2),
        "paper_steps": PAPER_STEPS,
        "paper_epochs_equivalent": round(PAPER_STEPS * PAPER_BATCH / rows, 1),
        "paper_budget_hours": round(PAPER_STEPS * step * PAPER_BATCH / args.batch_size / 3600, 1),
    }
    report = benchmark_report(
        "benchmarks/tiger_budget.py",
        argv,
        load_before=load_before,
        threads=args.threads,
        settings={
            "dataset": data.name,
            "batch_size": args.batch_size,
            "steps": args.steps,
            "warmup": args.warmup,
            "model": asdict(config),
            "semantic_ids": f"random valid ids: 3 seeded uniform codes of {args.codebook_size} "
            "plus the collision token (a step's cost does not depend on the codes)",
            "step": "loss, backward, AdamW step on random real training rows; median of the "
            "timed steps",
            "paper_budget": f"{PAPER_STEPS:,} steps of batch {PAPER_BATCH} (TIGER paper, Sec. 4.1)",
        },
        figures=figures,
    )
    print(json.dumps(figures, indent=2))
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
