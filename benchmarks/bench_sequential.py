"""Training throughput of the sequential retrievers (SASRec, HSTU) on one CPU thread.

Beauty-sized synthetic batches, seeded: 256 rows of 20 item ids drawn uniformly from a
12,101-item catalogue, with a target at every position (``RetrievalData.sequences`` rows of full
length: the most work a Beauty batch can hold; real rows are shorter, so their loss costs less).
Each model is built with its Beauty settings from ``experiments/recall_benchmark.py`` (SASRec:
D = 64, two blocks, two heads, full softmax; HSTU: D = 64, two layers, one head, full softmax on
unit vectors). Timed, each the median of ``--steps`` steps after ``--warmup`` untimed ones:

* ``train_step``: ``model.loss(batch)``, backward, Adam step (what one training step costs);
* ``encoder_forward``: ``model.sequence_output(history)`` alone, in eval mode without gradients
  (the attention layers, without the softmax over the catalogue).

Each figure is timed twice: wall clock, and the process's CPU time (steadier when other jobs share
the machine).

Writes ``results/benchmarks/sequential.json`` (or ``--out``) with the command, commit, device,
date, load average and the figures: seconds per step (wall and CPU), steps/s and sequences/s.

    python benchmarks/bench_sequential.py [--quick] [--models sasrec hstu] [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path

import torch

from recnotes import registry
from recnotes.data import Feature, Schema
from recnotes.results import RESULTS_DIR, benchmark_report, write_report

REPO = Path(__file__).resolve().parents[1]


def beauty_settings() -> dict:
    """The ``BEAUTY`` settings table of ``experiments/recall_benchmark.py`` (one source of truth)."""
    path = REPO / "experiments" / "recall_benchmark.py"
    spec = importlib.util.spec_from_file_location("recall_benchmark", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module.BEAUTY


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["sasrec", "hstu"],
                        help="registry names with a Beauty setting")  # fmt: skip
    parser.add_argument("--batch-size", type=int, default=256, help="rows per step B")
    parser.add_argument("--max-len", type=int, default=20, help="history length L")
    parser.add_argument("--num-items", type=int, default=12101, help="catalogue size (Beauty)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps first")
    parser.add_argument("--steps", type=int, default=30, help="timed steps (median)")
    parser.add_argument("--quick", action="store_true",
                        help="B = 16, L = 8, 500 items, 1 warm-up, 3 steps")  # fmt: skip
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "benchmarks" / "sequential.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.batch_size, args.max_len, args.num_items = 16, 8, 500
        args.warmup, args.steps = 1, 3
    return args


def make_batch(args: argparse.Namespace, seed: int = 0) -> tuple[Schema, dict[str, torch.Tensor]]:
    """A schema like Beauty's and one batch of full-length rows with a target at every position."""
    vocab = args.num_items + 1  # id 0 is padding
    schema = Schema(
        [
            Feature(
                "history_ids",
                "sequence",
                vocab_size=vocab,
                max_len=args.max_len,
                shared_with="item_ids",
            ),
            Feature("item_ids", "sparse", vocab_size=vocab),
        ]
    )
    gen = torch.Generator().manual_seed(seed)
    window = torch.randint(1, vocab, (args.batch_size, args.max_len + 1), generator=gen)
    batch = {"history_ids": window[:, :-1].contiguous(), "target_ids": window[:, 1:].contiguous()}
    return schema, batch


def median_seconds(fn, warmup: int, steps: int) -> tuple[float, float]:
    """Median wall-clock and median CPU seconds of ``fn`` over ``steps`` calls after ``warmup``.

    On a shared machine the wall clock also counts the time other jobs held the core; the process
    CPU time does not, so it is the steadier of the two figures.
    """
    for _ in range(warmup):
        fn()
    wall, cpu = [], []
    for _ in range(steps):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return statistics.median(wall), statistics.median(cpu)


def bench_model(name: str, setting, args: argparse.Namespace) -> dict:
    spec = registry.get(name)
    schema, batch = make_batch(args)
    torch.manual_seed(0)
    config = spec.config_cls(**setting.config)
    model = spec.cls(schema, config)
    optimizer = torch.optim.Adam(model.parameters(), lr=setting.lr or 1e-3)

    def train_step() -> None:
        model.train()
        optimizer.zero_grad(set_to_none=True)
        model.loss(batch).backward()
        optimizer.step()

    def encoder_forward() -> None:
        model.eval()
        with torch.no_grad():
            model.sequence_output(batch["history_ids"])

    step, step_cpu = median_seconds(train_step, args.warmup, args.steps)
    encoder, encoder_cpu = median_seconds(encoder_forward, args.warmup, args.steps)
    figure = {
        "config": {k: v for k, v in vars(config).items() if k != "check_inputs"},
        "num_params": sum(p.numel() for p in model.parameters()),
        "train_step_s": round(step, 5),
        "train_steps_per_s": round(1 / step, 3),
        "train_sequences_per_s": round(args.batch_size / step, 1),
        "train_step_cpu_s": round(step_cpu, 5),
        "train_sequences_per_cpu_s": round(args.batch_size / step_cpu, 1),
        "encoder_forward_s": round(encoder, 5),
        "encoder_sequences_per_s": round(args.batch_size / encoder, 1),
        "encoder_forward_cpu_s": round(encoder_cpu, 5),
    }
    print(f"{spec.display_name:8s} train step {step * 1000:8.1f} ms wall, {step_cpu * 1000:8.1f} ms "
          f"CPU ({figure['train_sequences_per_s']:8.1f} sequences/s); encoder forward "
          f"{encoder * 1000:7.1f} ms wall, {encoder_cpu * 1000:7.1f} ms CPU", flush=True)  # fmt: skip
    return figure


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    settings = beauty_settings()
    unknown = [m for m in args.models if m not in settings]
    if unknown:
        raise SystemExit(f"no Beauty setting for {unknown}; known: {sorted(settings)}")
    load_before = os.getloadavg()  # a shared machine's load moves every figure; say what it was
    figures = {name: bench_model(name, settings[name], args) for name in args.models}
    report = benchmark_report(
        "benchmarks/bench_sequential.py",
        argv,
        load_before=load_before,
        threads=1,
        settings={
            "batch_size": args.batch_size,
            "max_len": args.max_len,
            "num_items": args.num_items,
            "warmup": args.warmup,
            "steps": args.steps,
            "quick": args.quick,
            "batch": "full-length rows, ids uniform in 1..num_items, a target at every position",
            "train_step": "loss, backward, Adam step; median wall-clock and CPU seconds",
            "encoder_forward": "sequence_output in eval mode without gradients; median wall-clock "
            "and CPU seconds",
        },
        figures=figures,
    )
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
