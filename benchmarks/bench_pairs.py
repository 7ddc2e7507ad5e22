"""Field-pair products, forward and backward on the CPU: indexing against ``pair_products``.

AFM and IPNN form the element-wise product of every field pair, ``(B, F, D) -> (B, P, D)``. The
plain way, ``v[:, i] * v[:, j]`` with ``i, j = pair_indices(F)``, gathers two ``(B, P, D)`` copies
and its backward is an accumulating ``index_put_``. ``recnotes.layers.pair_products`` multiplies
slices block by block and adds the gradient back the same way. Both give the same numbers; this
times them, alone and inside a whole training step of the model that uses them:

* ``op``: forward + backward of the products alone, in milliseconds;
* ``step``: one training step (forward, loss, backward, optimiser) of the model, in milliseconds,
  with the model's products computed either way (the indexed one patched in for the baseline).

Cases are Frappe's shape: batch 4,096, 10 fields. ``afm-square``: AFM with 256 factors and an
attention width of 8 (the papers' square-loss setting, Adagrad); ``afm-bars``: AFM with 10 factors
and width 128 (BARS, Adam); ``ipnn-bars``: IPNN with 10 factors and a 400-400-400 MLP (BARS, Adam).
Each figure is the median of ``--repeats`` runs of ``--steps`` passes after ``--warmup`` untimed
ones; the two ways alternate run by run. Writes ``results/benchmarks/pairs.json`` (or ``--out``).

    python benchmarks/bench_pairs.py [--threads 1] [--quick] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from unittest import mock

import torch

from recnotes.data import Feature, Schema
from recnotes.layers import pair_indices, pair_products
from recnotes.ranking import afm, pnn
from recnotes.results import RESULTS_DIR, benchmark_report, time_alternately, write_report
from recnotes.train import reuse_freed_memory

#: Frappe's vocabulary sizes (ids + padding row) in its field order: user, item, daytime, weekday,
#: isweekend, homework, cost, weather, country, city
FRAPPE_VOCAB = (958, 4083, 8, 8, 3, 4, 3, 10, 81, 234)
BATCH = 4096
#: (name, module whose ``pair_products`` the baseline patches, model, config class, config, optimiser)
CASES = (
    ("afm-square", afm, afm.AFM, afm.AFMConfig, {"embed_dim": 256, "attention_dim": 8}, "adagrad"),
    ("afm-bars", afm, afm.AFM, afm.AFMConfig,
     {"embed_dim": 10, "attention_dim": 128, "init": "xavier", "init_std": 1e-4, "dropout": 0.0},
     "adam"),
    ("ipnn-bars", pnn, pnn.PNN, pnn.PNNConfig,
     {"embed_dim": 10, "hidden": (400, 400, 400), "product": "inner"}, "adam"),
)  # fmt: skip


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--steps", type=int, default=5, help="passes per timed run")
    parser.add_argument("--warmup", type=int, default=2, help="untimed passes first")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per figure (median)")
    parser.add_argument("--quick", action="store_true", help="batch 256, 1 pass, 1 run")
    parser.add_argument("--out", type=Path, default=RESULTS_DIR / "benchmarks" / "pairs.json")
    args = parser.parse_args(argv)
    if args.quick:
        args.steps, args.warmup, args.repeats = 1, 1, 1
    args.batch = 256 if args.quick else BATCH
    return args


def indexed_products(v: torch.Tensor) -> torch.Tensor:
    """The baseline: ``v[:, i] * v[:, j]`` over :func:`pair_indices`, autograd's own backward."""
    i, j = pair_indices(v.shape[1])
    return v[:, i] * v[:, j]


def time_both(runs, args) -> tuple[float, float]:
    """Median milliseconds of one pass of each of two callables, alternating run by run."""
    base, ours = time_alternately(runs, steps=args.steps, warmup=args.warmup, repeats=args.repeats)
    return base * 1e3, ours * 1e3


def op_runs(v: torch.Tensor, grad: torch.Tensor):
    """Forward + backward of the products, the indexed way and ``pair_products``."""

    def runner(products):
        def one() -> None:
            v.grad = None
            products(v).backward(grad)

        return one

    return runner(indexed_products), runner(pair_products)


def step_runs(module, model_cls, config_cls, config: dict, optimizer: str, batch_size: int, gen):
    """One training step of the model, with its products computed the indexed way, then ours."""
    schema = Schema(
        [Feature(f"f{k}", "sparse", vocab_size=n) for k, n in enumerate(FRAPPE_VOCAB)]
        + [Feature("label", "label")]
    )
    model = model_cls(schema, config_cls(**config, check_inputs=False))
    opt_cls = {"adam": torch.optim.Adam, "adagrad": torch.optim.Adagrad}[optimizer]
    opt = opt_cls(model.parameters(), lr=1e-3)
    batch = {
        f"f{k}": torch.randint(1, n, (batch_size,), generator=gen) for k, n in enumerate(FRAPPE_VOCAB)
    }
    label = torch.randint(0, 2, (batch_size,), generator=gen).float()

    def step() -> None:
        loss = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), label)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    def indexed() -> None:
        with mock.patch.object(module, "pair_products", indexed_products):
            step()

    return indexed, step


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    reuse_freed_memory()  # as experiments/ctr_benchmark.py runs: freed memory is reused
    load_before = os.getloadavg()
    gen = torch.Generator().manual_seed(0)
    figures = {}
    for name, module, model_cls, config_cls, config, optimizer in CASES:
        v = torch.randn(args.batch, len(FRAPPE_VOCAB), config["embed_dim"], generator=gen)
        v.requires_grad_(True)
        grad = torch.randn(indexed_products(v).shape, generator=gen)
        # the two must agree before their times mean anything
        indexed_products(v).backward(grad)
        expected, v.grad = v.grad, None
        if not torch.equal(pair_products(v), indexed_products(v)):
            raise AssertionError(f"{name}: pair_products differs from the indexed products")
        pair_products(v).backward(grad)
        if not torch.allclose(v.grad, expected, atol=1e-4):
            raise AssertionError(f"{name}: pair_products' gradient differs from the indexed one")
        op_base, op_ours = time_both(op_runs(v, grad), args)
        step_base, step_ours = time_both(
            step_runs(module, model_cls, config_cls, config, optimizer, args.batch, gen), args
        )
        figures[name] = {
            "shape": [args.batch, len(FRAPPE_VOCAB), config["embed_dim"]],
            "model_config": {k: list(x) if isinstance(x, tuple) else x for k, x in config.items()},
            "optimizer": optimizer,
            "op_indexed_ms": op_base,
            "op_pair_products_ms": op_ours,
            "op_speedup": op_base / op_ours,
            "step_indexed_ms": step_base,
            "step_pair_products_ms": step_ours,
            "step_speedup": step_base / step_ours,
        }
        print(f"{name:11s} op {op_base:8.1f} -> {op_ours:8.1f} ms (x{op_base / op_ours:.2f})  "
              f"step {step_base:8.1f} -> {step_ours:8.1f} ms (x{step_base / step_ours:.2f})",
              flush=True)  # fmt: skip
    report = benchmark_report(
        "benchmarks/bench_pairs.py",
        argv,
        load_before=load_before,
        threads=args.threads,
        settings={
            "batch": args.batch,
            "steps": args.steps,
            "warmup": args.warmup,
            "repeats": args.repeats,
            "quick": args.quick,
            "timed": "milliseconds per pass, median of the runs; the indexed and pair_products "
            "ways alternate run by run; glibc keeps freed memory (recnotes.train.reuse_freed_memory)",
        },
        figures=figures,
    )
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
