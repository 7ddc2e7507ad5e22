"""What SASRec, HSTU and TIGER cost at Amazon Beauty scale: vocabulary memory, FLOPs and latency.

Three ways to predict the next item, measured on one CPU thread with seeded synthetic inputs of
Beauty's size (12,101 items, histories of 20):

* **SASRec** (Beauty settings of ``experiments/recall_benchmark.py``: D = 64, two blocks, two
  heads, full softmax cross-entropy): a causal Transformer whose last output is scored against
  every item embedding.
* **HSTU** (Beauty settings of the same table: D = 64, two layers, one head, full softmax on unit
  vectors): the same serving shape with HSTU layers.
* **TIGER** (the paper's sizes, the ``TIGERConfig`` defaults: d_model 128, 4 + 4 layers, 6 heads
  of 64, MLP 1024): semantic ids of 4 tokens (3 levels of 256 codes and a collision token of 256
  values). The ids are **random valid ids** (seeded uniform codes, made unique by the collision
  token), not ids from a trained RQ-VAE: the counts below depend on the id length and the
  codebook sizes, not on which item got which code.

For each model the report holds:

* parameters split into the **item vocabulary** (SASRec and HSTU: the item-embedding table,
  ``N x D``; TIGER: the token embeddings and the output projection over the 1,026 tokens) and the
  rest, with their fp32 bytes; TIGER's item -> tokens lookup table (a buffer, not a parameter)
  is reported on its own;
* **training FLOPs per row** and per target: ``torch.utils.flop_counter.FlopCounterMode`` over one
  forward and backward of ``model.loss`` on a batch, divided by the batch. A SASRec or HSTU row is a
  full-length sequence with a target at every position (``L`` targets); a TIGER row is one
  (history, next item) pair (one target). FlopCounterMode counts the matmul-type operations only
  (``mm``, ``addmm``, ``bmm``, convolutions, attention kernels); element-wise work, softmax and
  normalisation are not counted;
* **inference FLOPs per request**, counted the same way: SASRec and HSTU encode one history and
  score the whole catalogue (``user_embedding``, ``item_embedding`` of every item, one
  matrix product, top-k); TIGER runs ``recommend`` (encoder, then constrained beam search with
  beam 20 over the 4 id positions, top-10);
* **latency per request**: the median wall-clock (and CPU) milliseconds of that same call for one
  user, over ``--users`` random full-length histories after ``--warmup`` untimed calls.

Writes ``results/benchmarks/generative-costs.json`` (or ``--out``) with the command, commit,
device, date, load average and the figures.

    python benchmarks/generative_costs.py [--quick] [--models sasrec hstu tiger] [--out PATH]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from recnotes import registry
from recnotes.data import Feature, Schema
from recnotes.generative.rqvae import semantic_ids
from recnotes.generative.tiger import TIGER, TIGERConfig
from recnotes.results import RESULTS_DIR, benchmark_report, write_report

REPO = Path(__file__).resolve().parents[1]
MODELS = ("sasrec", "hstu", "tiger")
#: TIGER's tiny sizes for --quick (the full run uses the TIGERConfig defaults: the paper's).
QUICK_TIGER = {"d_model": 16, "num_heads": 2, "head_dim": 8, "d_ff": 32,
               "encoder_layers": 1, "decoder_layers": 1}  # fmt: skip


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
    parser.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    parser.add_argument("--num-items", type=int, default=None,
                        help="catalogue size N (default 12,101: Beauty; 500 with --quick)")  # fmt: skip
    parser.add_argument("--max-len", type=int, default=20, help="history length L")
    parser.add_argument("--batch-size", type=int, default=64,
                        help="rows in the batch whose training FLOPs are counted")  # fmt: skip
    parser.add_argument("--levels", type=int, default=3, help="TIGER code levels C (paper: 3)")
    parser.add_argument("--codebook-size", type=int, default=256, help="TIGER codes per level K")
    parser.add_argument("--collisions", type=int, default=256,
                        help="values of TIGER's last (collision) token")  # fmt: skip
    parser.add_argument("--beam", type=int, default=20, help="TIGER beam width W (paper: 20)")
    parser.add_argument("--k", type=int, default=10, help="items returned per request")
    parser.add_argument("--users", type=int, default=40, help="timed single-user requests")
    parser.add_argument("--warmup", type=int, default=5, help="untimed requests first")
    parser.add_argument("--quick", action="store_true",
                        help="500 items, L = 8, B = 8, codebooks of 16, tiny TIGER, 5 users")  # fmt: skip
    parser.add_argument(
        "--out", type=Path, default=RESULTS_DIR / "benchmarks" / "generative-costs.json"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.max_len, args.batch_size = 8, 8
        args.codebook_size, args.collisions = 16, 16
        args.users, args.warmup = 5, 1
    if args.num_items is None:
        args.num_items = 500 if args.quick else 12101
    if args.k > args.beam:
        parser.error(f"--k ({args.k}) must not exceed --beam ({args.beam})")
    return args


def make_schema(args: argparse.Namespace) -> Schema:
    """A schema like Beauty's: item ids ``1..N`` (0 pads), histories of ``L`` items."""
    vocab = args.num_items + 1
    return Schema(
        [
            Feature(
                "history_ids",
                "sequence",
                vocab_size=vocab,
                max_len=args.max_len,
                shared_with="item_ids",
            ),  # fmt: skip
            Feature("item_ids", "sparse", vocab_size=vocab),
        ]
    )


def random_ids(args: argparse.Namespace, seed: int = 0):
    """Random valid semantic ids: ``C`` uniform codes per item and the collision token."""
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, args.codebook_size, (args.num_items, args.levels), generator=gen)
    return semantic_ids(codes, torch.arange(1, args.num_items + 1), args.codebook_size,
                        max_collisions=args.collisions)  # fmt: skip


def build(name: str, args: argparse.Namespace, settings: dict) -> torch.nn.Module:
    schema = make_schema(args)
    torch.manual_seed(0)
    if name == "tiger":
        sizes = QUICK_TIGER if args.quick else {}
        config = TIGERConfig(beam_size=args.beam, **sizes)
        return TIGER(schema, config, ids=random_ids(args))
    spec = registry.get(name)
    return spec.cls(schema, spec.config_cls(**settings[name].config))


def vocabulary_parameters(name: str, model: torch.nn.Module) -> list[torch.nn.Parameter]:
    """The parameters whose size follows the vocabulary: item table, or token tables."""
    if name == "tiger":
        return [model.embed.weight, model.head.weight]  # V tokens in, V logits out
    return [model.item.weight]  # N + 1 rows (padding included)


def training_batch(name: str, args: argparse.Namespace, seed: int = 1) -> dict[str, torch.Tensor]:
    """Full-length rows of uniform item ids: the most work a Beauty batch can hold."""
    gen = torch.Generator().manual_seed(seed)
    window = torch.randint(
        1, args.num_items + 1, (args.batch_size, args.max_len + 1), generator=gen
    )
    if name == "tiger":  # one (history, next item) pair per row
        return {"history_ids": window[:, :-1].contiguous(), "item_ids": window[:, -1].contiguous()}
    return {"history_ids": window[:, :-1].contiguous(), "target_ids": window[:, 1:].contiguous()}


def count_flops(fn: Callable[[], object]) -> tuple[int, dict[str, int]]:
    """Total FLOPs of the matmul-type operations ``fn`` runs, and the count per operation."""
    with FlopCounterMode(display=False) as counter:
        fn()
    per_op = {str(op).removeprefix("aten."): int(n)
              for op, n in counter.get_flop_counts()["Global"].items()}  # fmt: skip
    return int(counter.get_total_flops()), per_op


def request_fn(name: str, model: torch.nn.Module, args: argparse.Namespace):
    """The serving call for one user: ``history (1, L) -> item ids (1, k)``."""
    all_items = {"item_ids": torch.arange(1, args.num_items + 1)}

    def serve(history: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            if name == "tiger":
                return model.recommend({"history_ids": history}, k=args.k, beam_size=args.beam)
            user = model.user_embedding({"history_ids": history})  # (1, D)
            scores = user @ model.item_embedding(all_items).T  # (1, N): O(N D)
            return scores.topk(args.k, dim=1).indices + 1

    return serve


def median_ms(fn: Callable[[torch.Tensor], object], requests: torch.Tensor, warmup: int):
    """Median wall-clock and CPU milliseconds of ``fn`` per request, after ``warmup`` calls."""
    for i in range(warmup):
        fn(requests[i % len(requests)][None])
    wall, cpu = [], []
    for row in requests:
        start, start_cpu = time.perf_counter(), time.process_time()
        fn(row[None])
        wall.append((time.perf_counter() - start) * 1e3)
        cpu.append((time.process_time() - start_cpu) * 1e3)
    return statistics.median(wall), statistics.median(cpu)


def measure(name: str, args: argparse.Namespace, settings: dict) -> dict:
    model = build(name, args, settings)
    vocab = vocabulary_parameters(name, model)
    vocab_params = sum(p.numel() for p in vocab)
    total = sum(p.numel() for p in model.parameters())
    lookup_bytes = (
        model.item_tokens.numel() * model.item_tokens.element_size() if name == "tiger" else 0
    )

    batch = training_batch(name, args)
    model.train()

    def train_pass() -> None:
        model.zero_grad(set_to_none=True)
        model.loss(batch).backward()

    train_flops, train_ops = count_flops(train_pass)
    targets = 1 if name == "tiger" else args.max_len

    model.eval()
    serve = request_fn(name, model, args)
    gen = torch.Generator().manual_seed(2)
    requests = torch.randint(1, args.num_items + 1, (args.users, args.max_len), generator=gen)
    infer_flops, infer_ops = count_flops(lambda: serve(requests[:1]))
    wall_ms, cpu_ms = median_ms(serve, requests, args.warmup)

    config = {k: v for k, v in asdict(model.config).items() if k != "check_inputs"}
    figure = {
        "config": config,
        "num_params": total,
        "vocabulary_params": vocab_params,
        "vocabulary_bytes_fp32": vocab_params * 4,
        "other_params": total - vocab_params,
        "other_bytes_fp32": (total - vocab_params) * 4,
        "item_lookup_bytes": lookup_bytes,
        "train_flops_per_row": train_flops // args.batch_size,
        "targets_per_row": targets,
        "train_flops_per_target": train_flops // (args.batch_size * targets),
        "train_flops_by_op": train_ops,
        "inference_flops_per_request": infer_flops,
        "inference_flops_by_op": infer_ops,
        "latency_ms_median": round(wall_ms, 3),
        "latency_cpu_ms_median": round(cpu_ms, 3),
    }
    if name == "tiger":
        figure.update(tokens_per_item=model.length, token_vocabulary=model.vocab,
                      decoder_passes_per_request=model.length, beam=args.beam)  # fmt: skip
    print(f"{name:7s} params {total:>10,} (vocabulary {vocab_params:>9,}); train "
          f"{figure['train_flops_per_row'] / 1e6:9.2f} MFLOP/row; request "
          f"{infer_flops / 1e6:8.2f} MFLOP, {wall_ms:8.2f} ms wall", flush=True)  # fmt: skip
    return figure


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(1)
    settings = beauty_settings()
    load_before = os.getloadavg()  # a shared machine's load moves the latencies; say what it was
    figures = {name: measure(name, args, settings) for name in args.models}
    report = benchmark_report(
        "benchmarks/generative_costs.py",
        argv,
        load_before=load_before,
        threads=1,
        settings={
            "num_items": args.num_items,
            "max_len": args.max_len,
            "batch_size": args.batch_size,
            "levels": args.levels,
            "codebook_size": args.codebook_size,
            "collisions": args.collisions,
            "beam": args.beam,
            "k": args.k,
            "users": args.users,
            "warmup": args.warmup,
            "quick": args.quick,
            "semantic_ids": "random valid ids (seeded uniform codes + collision token), not a "
            "trained RQ-VAE's",
            "flops": "torch.utils.flop_counter.FlopCounterMode: matmul-type operations only "
            "(mm, addmm, bmm, convolution, attention); element-wise work is not counted",
            "training": "one forward + backward of model.loss on full-length rows of uniform "
            "ids; SASRec/HSTU rows carry a target at every position, TIGER rows one target",
            "request": "one user, history of max_len items: SASRec/HSTU encode it and score "
            "every item; TIGER encodes it and runs constrained beam search",
        },
        figures=figures,
    )
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
