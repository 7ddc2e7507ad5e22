"""Benchmark the registered recall models on MovieLens-1M and Amazon Beauty (full ranking).

One script drives every retriever in the registry (family ``recall`` or ``sequential``: the models
with ``user_embedding``, ``item_embedding`` and ``loss``). For each model and seed it builds the
dataset (:mod:`recnotes.data.retrieval`), builds the model with the per-dataset settings below,
trains it with the Trainer on "history -> next item" rows (or, for models whose ``train_view``
is ``"sequences"``, on one row per user with a target at every position), early-stopping on
validation NDCG@10 under full ranking (best epoch restored), and scores the test items once.
Each model gets one results file, ``results/<dataset>/<model>[-<variant>].json``, with the mean
and standard deviation over the seeds, the per-seed values and curves, and the command that
re-runs it.

Protocols (see the evaluation page):

* ``--dataset ml-1m``: ``ml1m-leave-latest-out``. Each user's latest rating (the NCF test file's
  item) is the test item; (a) **full** ranking over all 3,706 items with the user's other items
  filtered: HR@10, NDCG@10, Recall@50 (the SINE paper's ML-1M table uses this protocol); (b) the
  NCF protocol, the test item against NCF's 99 fixed negatives (``ncf_hr@10``, ``ncf_ndcg@10``),
  so retrievers line up with NeuMF. A negative equal to the test item (156 users) is not counted
  as a candidate, as in NCF's own evaluation. Users 3000-6040 have no timestamps in our copy; their
  histories are in file order (see `recnotes.data.retrieval.retrieval_movielens_1m`).
* ``--dataset beauty``: ``amazon-loo-full`` (S3-Rec 5-core, the TIGER paper's protocol):
  last item test, second to last validation, history of at most 20 items, full ranking over
  all 12,101 items, earlier items **not** filtered (generative retrieval cannot filter them, and
  recall, SASRec and TIGER share one table): Recall@5/10, NDCG@5/10. As a diagnostic the test
  metrics are also computed with earlier items filtered (``filtered_recall@10``, ...): the gap
  shows how many top slots a model spends on items the user already has.

    python experiments/recall_benchmark.py --model dssm --dataset beauty --seeds 0 1 2
    python experiments/recall_benchmark.py --model mind --dataset ml-1m --set num_interests=4
    python experiments/recall_benchmark.py --model dssm youtubednn --quick --out /tmp/recall

The real data is read from ``$RECNOTES_DATA`` (see the data page).
"""

from __future__ import annotations

import argparse
import ast
import shlex
import statistics
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from recnotes import registry
from recnotes.data.retrieval import (
    HeldOut,
    RetrievalData,
    retrieval_amazon,
    retrieval_movielens_1m,
    retrieval_synthetic,
)
from recnotes.evaluate import dot_scorer, full_ranking, sampled_ranking
from recnotes.results import RESULTS_DIR, Result, describe_device, git_commit
from recnotes.train import TrainConfig, Trainer, reuse_freed_memory, seed_everything

SCRIPT = "experiments/recall_benchmark.py"
RETRIEVAL_FAMILIES = ("recall", "sequential")


@dataclass(frozen=True)
class Setting:
    """One model's settings under one protocol.

    Attributes:
        config: model config fields (a field the model does not have is reported and skipped).
        lr: Adam learning rate, when it differs from the protocol's.
        batch_size: training batch, when it differs from the protocol's.
        epochs: epoch limit, when it differs from the protocol's.
        patience: early-stopping patience, when it differs from the protocol's.
        weight_decay: Adam weight decay.
        reference: published test metrics this run compares with (``{}``: none).
        source: where ``reference`` and the settings come from.
        max_len: the history length this setting is defined for (``--max-len`` must say it).
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    lr: float | None = None
    batch_size: int | None = None
    epochs: int | None = None
    patience: int | None = None
    weight_decay: float = 0.0
    reference: Mapping[str, float] = field(default_factory=dict)
    source: str = ""
    max_len: int | None = None


@dataclass(frozen=True)
class Protocol:
    """A dataset with its split, metrics and training defaults."""

    name: str
    results_dir: str
    build: Any
    ks: tuple[int, ...]
    metrics: tuple[str, ...]
    report: tuple[str, ...]
    monitor: str = "ndcg@10"
    filter_seen: bool = True
    epochs: int = 30
    batch_size: int = 1024
    lr: float = 1e-3
    patience: int = 3
    notes: str = ""
    settings: Mapping[str, Setting] = field(default_factory=dict)


# Per-model settings. Each model's engineer owns its entry; say where every value comes from.
ML1M: dict[str, Setting] = {
    # DSSM: recnotes settings (embedding 64, towers 128 -> 64, unit vectors, temperature 0.05,
    # log-Q on); no published DSSM number under this protocol was found.
    "dssm": Setting(
        config={"embed_dim": 64, "hidden": (128, 64), "temperature": 0.05}, lr=1e-3, batch_size=1024
    ),  # fmt: skip
    # YouTube DNN: tower 128 -> 64 (paper's best 1024 -> 512 -> 256 is too slow for one CPU core),
    # 500 uniform negatives per batch (paper: several thousand); no published number found.
    "youtubednn": Setting(
        config={"embed_dim": 64, "hidden": (128, 64), "num_negatives": 500},
        lr=1e-3,
        batch_size=1024,
    ),  # fmt: skip
    # MIND and ComiRec: D=64, K=4 (ComiRec paper, experiments), 1,280 shared uniform negatives
    # (ComiRec code: 10 per example x batch 128). MIND's reference: SINE paper (Tan et al., WSDM
    # 2021), ML-1M table, leave-latest-out full ranking. No ComiRec row of that table was found.
    "mind": Setting(
        config={"embed_dim": 64, "num_interests": 4},
        lr=1e-3,
        batch_size=1024,
        reference={"hr@10": 0.1562, "ndcg@10": 0.0658},
        source="SINE paper (Tan et al., WSDM 2021), MovieLens table, MIND row, "
        "value from the issue brief; table number not re-checked",
    ),  # fmt: skip
    "comirec-dr": Setting(
        config={"embed_dim": 64, "num_interests": 4}, lr=1e-3, batch_size=1024
    ),  # fmt: skip
    "comirec-sa": Setting(
        config={"embed_dim": 64, "num_interests": 4}, lr=1e-3, batch_size=1024
    ),  # fmt: skip
    # SDM: recnotes settings (D=64, last 10 items as the session, 2 heads, 200 shared uniform
    # negatives, temperature 0.2 chosen on the synthetic data); the profile is gender, age and
    # occupation, as the paper's (no user ids). No published SDM number under this protocol.
    # At most 8 epochs: one epoch costs about 0.23 CPU-s x 965 steps on one core (measured).
    "sdm": Setting(
        config={
            "embed_dim": 64,
            "short_len": 10,
            "num_heads": 2,
            "num_negatives": 200,
            "temperature": 0.2,
            "use_user_ids": False,
        },
        lr=1e-3,
        batch_size=1024,
        epochs=8,
    ),  # fmt: skip
}
BEAUTY: dict[str, Setting] = {
    # SASRec, full softmax cross-entropy: the peer's configuration measured on this exact split
    # (RecBole 1.2.1: hidden 64, 2 layers, 2 heads, dropout 0.5, history 20, batch 256, lr 1e-3,
    # early stopping on validation NDCG@10 with RecBole's default patience of 10 epochs).
    "sasrec": Setting(
        config={"embed_dim": 64, "num_blocks": 2, "num_heads": 2, "dropout": 0.5, "loss": "ce"},
        lr=1e-3,
        batch_size=256,
        epochs=200,
        patience=10,
        reference={"recall@5": 0.0568, "ndcg@5": 0.0336, "recall@10": 0.0851, "ndcg@10": 0.0428},
        source="RecBole 1.2.1 SASRec (CE) measured on this split and protocol "
        "(issue 6 of recnotes; H100)",
    ),  # fmt: skip
    # GRU4Rec, full softmax cross-entropy: RecBole's configuration (embedding 64, hidden 128, one
    # layer, dropout 0.3) with the SASRec peer run's batch 256 and lr 1e-3.
    "gru4rec": Setting(
        config={"embed_dim": 64, "hidden_dim": 128, "num_layers": 1, "dropout": 0.3, "loss": "ce"},
        lr=1e-3,
        batch_size=256,
        epochs=200,
        patience=10,
        reference={"recall@5": 0.0443, "ndcg@5": 0.0305, "recall@10": 0.0676, "ndcg@10": 0.0380},
        source="RecBole 1.2.1 GRU4Rec measured on this split and protocol "
        "(issue 6 of recnotes; H100)",
    ),  # fmt: skip
    # STAMP: the paper's width (100) and batch (512, Sec. 4.3) with Adam at lr 1e-3; embeddings
    # N(0, 0.05) instead of the paper's N(0, 0.002), which stayed at the popularity baseline in a
    # 3-epoch synthetic run. No published number under this protocol.
    "stamp": Setting(
        config={"embed_dim": 100, "init_std": 0.05}, lr=1e-3, batch_size=512, epochs=100, patience=5
    ),  # fmt: skip
    # BERT4Rec: the paper's Beauty model (hidden 64, 2 layers, 2 heads, dropout 0.1, rho 0.6,
    # batch 256; Sec. 4.3 and Table 4) with lr 1e-3 instead of 1e-4 to fit a CPU budget; history 20.
    # Reference: the BERT4Rec row of TIGER's Table 1 (same data and protocol; TIGER took its
    # baseline rows from earlier papers, so that run's history length and settings are not ours).
    "bert4rec": Setting(
        config={"embed_dim": 64, "num_blocks": 2, "num_heads": 2, "dropout": 0.1, "mask_prob": 0.6},
        lr=1e-3,
        batch_size=256,
        epochs=200,
        patience=10,
        reference={"recall@5": 0.0203, "ndcg@5": 0.0124, "recall@10": 0.0347, "ndcg@10": 0.0170},
        source="TIGER paper (Rajput et al., NeurIPS 2023), Table 1, BERT4Rec row (Beauty)",
    ),  # fmt: skip
    # HSTU: two layers, one head, D = 64 (the reference configs for the public datasets), dropout
    # 0.5 as SASRec on this sparse data, unit vectors with temperature 0.05 (reference code), full
    # softmax; batch 256, lr 1e-3. The reference number is a public reproduction, not the paper.
    "hstu": Setting(
        config={
            "embed_dim": 64,
            "num_blocks": 2,
            "num_heads": 1,
            "dropout": 0.5,
            "temperature": 0.05,
        },
        lr=1e-3,
        batch_size=256,
        epochs=200,
        patience=10,
        reference={"recall@5": 0.0486, "ndcg@5": 0.0340, "recall@10": 0.0708, "ndcg@10": 0.0412},
        source="public HSTU reproduction on this protocol (phonism/genrec README), "
        "quoted in recnotes' REFERENCE.md",
    ),  # fmt: skip
    # SASRec, the paper's BCE with one negative per position (paper, Sec. IV-C: d = 50, two
    # blocks, one head, dropout 0.5 on Amazon, lr 1e-3, batch 128), history 20 as TIGER.
    "sasrec-bce": Setting(
        config={"embed_dim": 50, "num_blocks": 2, "num_heads": 1, "dropout": 0.5, "loss": "bce"},
        lr=1e-3,
        batch_size=128,
        epochs=400,
        patience=10,
        reference={"recall@5": 0.0387, "ndcg@5": 0.0249, "recall@10": 0.0605, "ndcg@10": 0.0318},
        source="TIGER paper (Rajput et al., NeurIPS 2023), Table 1, SASRec row (Beauty)",
    ),  # fmt: skip
    # SASRec, BCE with one negative per position, on the CE row's network and batch (width 64, two
    # blocks of two heads, dropout 0.5, batch 256, lr 1e-3): the same network as "sasrec" with only
    # the loss changed, so the pair separates the loss from the paper's smaller network.
    "sasrec-bce-d64": Setting(
        config={"embed_dim": 64, "num_blocks": 2, "num_heads": 2, "dropout": 0.5, "loss": "bce"},
        lr=1e-3,
        batch_size=256,
        epochs=400,
        patience=10,
        reference={"recall@5": 0.0387, "ndcg@5": 0.0249, "recall@10": 0.0605, "ndcg@10": 0.0318},
        source="TIGER paper (Rajput et al., NeurIPS 2023), Table 1, SASRec row (Beauty)",
    ),  # fmt: skip
    # DSSM and YouTube DNN: the ML-1M settings above; no published number under this protocol.
    "dssm": Setting(
        config={"embed_dim": 64, "hidden": (128, 64), "temperature": 0.05}, lr=1e-3, batch_size=1024
    ),  # fmt: skip
    "youtubednn": Setting(
        config={"embed_dim": 64, "hidden": (128, 64), "num_negatives": 500},
        lr=1e-3,
        batch_size=1024,
    ),  # fmt: skip
    # MIND and ComiRec: the ML-1M settings above; no published number under this protocol found.
    "mind": Setting(config={"embed_dim": 64, "num_interests": 4}, lr=1e-3, batch_size=1024),
    "comirec-dr": Setting(
        config={"embed_dim": 64, "num_interests": 4}, lr=1e-3, batch_size=1024
    ),  # fmt: skip
    "comirec-sa": Setting(
        config={"embed_dim": 64, "num_interests": 4}, lr=1e-3, batch_size=1024
    ),  # fmt: skip
    # SDM: as on ML-1M with a 5-item session (histories are capped at 20) and the user id as the
    # profile (Beauty has no other user feature); batch 256. No published SDM number found.
    "sdm": Setting(
        config={
            "embed_dim": 64,
            "short_len": 5,
            "num_heads": 2,
            "num_negatives": 200,
            "temperature": 0.2,
            "use_user_ids": True,
        },
        lr=1e-3,
        batch_size=256,
    ),  # fmt: skip
}

# SASRec BCE as "sasrec-bce" with the history of SASRec's own Beauty runs (50, paper Sec. IV-C),
# where the protocol keeps 20 as TIGER does: is the history length behind the gap to the row?
BEAUTY["sasrec-bce-len50"] = replace(BEAUTY["sasrec-bce"], max_len=50)

PROTOCOLS: dict[str, Protocol] = {
    "ml-1m": Protocol(
        name="ml1m-leave-latest-out",
        results_dir="ml-1m",
        build=lambda max_len=50: retrieval_movielens_1m(max_len=max_len),
        ks=(10, 50),
        metrics=("hr", "ndcg", "recall"),
        report=("hr@10", "ndcg@10", "recall@50", "ncf_hr@10", "ncf_ndcg@10"),
        notes=(
            "Full ranking over all 3,706 items, the user's other items filtered (HR@10, NDCG@10, "
            "Recall@50), and the NCF protocol (test item vs NCF's 99 fixed negatives, a negative "
            "equal to the test item not counted): ncf_hr@10, ncf_ndcg@10. Early stopping on "
            "validation NDCG@10 (full ranking). History: last 50 items."
        ),
        settings=ML1M,
    ),
    "beauty": Protocol(
        name="amazon-loo-full",
        results_dir="beauty",
        build=lambda max_len=20: retrieval_amazon("beauty", max_len=max_len),
        ks=(5, 10),
        metrics=("recall", "ndcg"),
        report=("recall@5", "ndcg@5", "recall@10", "ndcg@10"),
        notes=(
            "S3-Rec Amazon Beauty 5-core, leave-one-out, history capped at 20 items, full ranking "
            "over all 12,101 items, earlier items not filtered (TIGER paper protocol). "
            "Early stopping on validation NDCG@10."
        ),
        filter_seen=False,
        settings=BEAUTY,
    ),
}


def build_config(spec, setting: Setting, overrides: Mapping[str, Any], quick: bool):
    """The model config: the settings table, then ``--set`` overrides; returns (config, skipped)."""
    names = {f.name for f in fields(spec.config_cls)}
    wanted = {**setting.config, **overrides}
    unknown = [k for k in overrides if k not in names]
    if unknown:
        raise SystemExit(
            f"{spec.display_name}'s config has no field(s) {unknown}; it has {sorted(names)}"
        )
    kwargs = {k: (tuple(v) if isinstance(v, list) else v) for k, v in wanted.items() if k in names}
    skipped = sorted(k for k in wanted if k not in names)
    if quick and "embed_dim" in names and "embed_dim" not in overrides:
        kwargs["embed_dim"] = 8
    return spec.config_cls(**kwargs), skipped


def user_vectors(model: nn.Module, users: Mapping[str, torch.Tensor], batch: int = 2048):
    """``model.user_embedding`` over row chunks (eval mode, no gradients)."""
    rows = next(iter(users.values())).shape[0]
    with torch.no_grad():
        return torch.cat(
            [
                model.user_embedding({k: v[i : i + batch] for k, v in users.items()})
                for i in range(0, rows, batch)
            ]
        )


def evaluate_split(
    model: nn.Module, data: RetrievalData, split: HeldOut, ks, metrics, filter_seen: bool = True
) -> dict[str, float]:
    """Full ranking of ``split``'s targets over the catalogue (earlier items filtered or not)."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            items = model.item_embedding(dict(data.items))
        users = user_vectors(model, split.users)
        return full_ranking(
            users,
            items,
            split.targets,
            split.seen if filter_seen else None,
            exclude_items=torch.tensor([0]),
            ks=ks,
            metrics=metrics,
        )
    finally:
        model.train(was_training)


def ncf_metrics(model: nn.Module, data: RetrievalData) -> dict[str, float]:
    """HR@10 and NDCG@10 of the test item against NCF's 99 fixed negatives (ML-1M only)."""
    from recnotes.data.datasets import load_ncf_movielens_1m

    ncf = load_ncf_movielens_1m()
    negatives = torch.from_numpy(ncf.negatives + 1)  # NCF ids are 0-based; ours are NCF + 1
    user_rows = data.test.user_ids - 1
    negatives = negatives[user_rows]
    targets = data.test.targets
    # A negative equal to the test item (156 users) is not a candidate, as in NCF's own evaluation
    # (it keys scores by item): it becomes the padding id 0, scored -inf, so it never outranks.
    negatives = torch.where(negatives == targets[:, None], 0, negatives)
    model.eval()
    with torch.no_grad():
        items = model.item_embedding(dict(data.items))
        users = user_vectors(model, data.test.users)
    scorer = dot_scorer(users, items)

    def score(rows: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        return scorer(rows, candidates).masked_fill(candidates == 0, float("-inf"))

    out = sampled_ranking(score, targets, negatives, ks=(10,), metrics=("hr", "ndcg"))
    return {"ncf_hr@10": out["hr@10"], "ncf_ndcg@10": out["ndcg@10"]}


def run_seed(spec, args, protocol: Protocol, data: RetrievalData, setting: Setting, seed: int,
             overrides) -> dict:  # fmt: skip
    start = time.perf_counter()
    config, skipped = build_config(spec, setting, overrides, args.quick)
    seed_everything(seed)
    model = spec.cls(data.schema, config)
    if hasattr(model, "set_item_counts"):  # log-Q correction and popularity-aware samplers
        model.set_item_counts(data.item_counts)
    if hasattr(model, "set_item_table"):  # item features of sampled negatives (SDM)
        model.set_item_table(dict(data.items))
    ks, metrics = (protocol.ks, protocol.metrics) if not args.quick else ((10,), ("hr", "ndcg"))
    monitor = protocol.monitor
    train_config = TrainConfig(
        epochs=args.epochs or setting.epochs or protocol.epochs,
        batch_size=args.batch_size or setting.batch_size or protocol.batch_size,
        lr=args.lr or setting.lr or protocol.lr,
        weight_decay=setting.weight_decay,
        monitor=monitor,
        mode="max",
        patience=args.patience or setting.patience or protocol.patience,
        seed=seed,
        device="cpu",
        progress=not args.quiet,
        drop_last=True,  # in-batch softmax wants full batches
    )

    def validate(m: nn.Module) -> dict[str, float]:
        out = evaluate_split(m, data, data.valid, ks, metrics, protocol.filter_seen)
        return {k: v for k, v in out.items() if "@" in k}

    # Models trained on every position at once (SASRec, GRU4Rec) say so with train_view.
    view = getattr(model, "train_view", "rows")
    if view not in ("rows", "sequences"):
        raise SystemExit(
            f"{spec.display_name}.train_view must be 'rows' or 'sequences', got {view!r}"
        )
    table = data.sequences if view == "sequences" else data.train
    if args.quick and train_config.batch_size > len(table) // 4:  # the synthetic data is small
        train_config = replace(train_config, batch_size=max(16, len(table) // 4))
    trainer = Trainer(model, train_config, validate_fn=validate)
    history = trainer.fit(table)
    test = evaluate_split(model, data, data.test, ks, metrics, protocol.filter_seen)
    test = {k: v for k, v in test.items() if "@" in k}
    if not protocol.filter_seen:  # a diagnostic: how much do earlier items crowd the top slots?
        seen_out = evaluate_split(model, data, data.test, ks, metrics, filter_seen=True)
        test.update({f"filtered_{k}": v for k, v in seen_out.items() if "@" in k})
    if data.name == "ml-1m" and not args.quick:
        test.update(ncf_metrics(model, data))
    epoch_times = [e["epoch_time_s"] for e in history.epochs]
    result = {
        "seed": seed,
        **{k: round(v, 5) for k, v in test.items()},
        f"valid_{monitor}": round(history.epochs[history.best_epoch][monitor], 5),
        "best_epoch": history.best_epoch + 1,
        "epochs_run": len(history.epochs),
        "epoch_time_s": round(statistics.fmean(epoch_times), 3),
        "curve": [
            {k: round(v, 5) for k, v in e.items() if k in ("train_loss", monitor)}
            for e in history.epochs
        ],
        "seconds": round(time.perf_counter() - start, 1),
    }
    shown = " ".join(f"{k}={test[k]:.4f}" for k in test if k in protocol.report or args.quick)
    print(
        f"  {spec.name} seed {seed}: test {shown} (best epoch {result['best_epoch']}/"
        f"{result['epochs_run']}, {result['epoch_time_s']:.1f} s/epoch, {result['seconds']:.0f} s)",
        flush=True,
    )
    return {
        "result": result,
        "config": config,
        "train_config": train_config,
        "skipped": skipped,
        "num_params": sum(p.numel() for p in model.parameters()),
    }


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["num_interests=4", "temperature=0.05"]`` -> ``{"num_interests": 4, ...}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes key=value, got {item!r}")
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw
    return out


def command_for(model: str, given: list[str]) -> str:
    """The command that re-runs one model: the given arguments with ``--model`` narrowed to it."""
    out, skip = [], False
    for arg in given:
        if arg == "--model":
            out += ["--model", model]
            skip = True
            continue
        if skip and not arg.startswith("--"):
            continue
        skip = False
        out.append(arg)
    return " ".join(["python", SCRIPT, *(shlex.quote(a) for a in out)])


def run_model(name: str, args, data: RetrievalData, overrides, given: list[str]) -> Path:
    spec = registry.get(name)
    if spec.family not in RETRIEVAL_FAMILIES:
        raise SystemExit(
            f"{spec.display_name} is a {spec.family} model; this script runs retrievers "
            f"(families {RETRIEVAL_FAMILIES})"
        )
    protocol = PROTOCOLS[args.dataset]
    # A variant may have its own entry ("sasrec-bce"); otherwise the model's entry applies.
    setting = protocol.settings.get(f"{name}-{args.variant}") or protocol.settings.get(
        name, Setting()
    )
    if setting.max_len is not None and not args.quick and args.max_len != setting.max_len:
        raise SystemExit(
            f"{name} variant {args.variant!r} is defined for a history of {setting.max_len} "
            f"items: run it with --max-len {setting.max_len}"
        )
    start = time.perf_counter()
    label = "synthetic (quick)" if args.quick else args.dataset
    print(f"== {spec.display_name} on {label}, seeds {args.seeds} ==", flush=True)
    runs = [run_seed(spec, args, protocol, data, setting, seed, overrides) for seed in args.seeds]
    per_seed = [r["result"] for r in runs]
    keys = [k for k in per_seed[0] if "@" in k and not k.startswith("valid_")]
    metrics: dict[str, float] = {}
    for key in keys:
        mean, std = mean_std([r[key] for r in per_seed])
        metrics[key], metrics[f"{key}_std"] = round(mean, 5), round(std, 5)
    first = runs[0]
    train = asdict(first["train_config"])
    train.pop("seed")
    notes = (
        protocol.notes + " " + data.notes + "."
        if not args.quick
        else ("quick smoke run on synthetic data; not a reproduction")
    )
    if first["skipped"]:
        notes += f" Settings not applied (the model has no such field): {first['skipped']}."
    if overrides:
        notes += f" Config overridden on the command line: {overrides}."
    if args.max_len and not args.quick:
        notes += f" History capped at {args.max_len} items instead (--max-len)."
    result = Result(
        model=spec.name,
        dataset="synthetic" if args.quick else protocol.results_dir,
        protocol="synthetic-loo-full" if args.quick else protocol.name,
        metrics=metrics,
        command=command_for(spec.name, given),
        commit=args.commit,
        device=describe_device("cpu") + f", {args.threads} torch thread(s)",
        wall_time_s=round(time.perf_counter() - start, 1),
        paper=dict(setting.reference) if not args.quick else {},
        source=setting.source if not args.quick else "",
        seeds=list(args.seeds),
        config={
            "model": asdict(first["config"]),
            "train": train,
            "max_len": data.max_len,
            "num_params": first["num_params"],
            "epoch_time_s": round(statistics.fmean(r["epoch_time_s"] for r in per_seed), 3),
            "best_epochs": [r["best_epoch"] for r in per_seed],
            "std": "sample standard deviation over seeds (ddof=1)",
            "per_seed": per_seed,
            "invocation": " ".join(["python", SCRIPT, *(shlex.quote(a) for a in given)]),
        },
        notes=notes,
    )
    stem = f"{spec.name}-{args.variant}" if args.variant else spec.name
    root = args.out or (Path("runs") / "recall-quick" if args.quick else RESULTS_DIR)
    path = result.save(Path(root) / result.dataset / f"{stem}.json")
    ours = ", ".join(
        f"{k}={metrics[k]:.4f}±{metrics[k + '_std']:.4f}"
        for k in metrics
        if not k.endswith("_std") and (k in protocol.report or args.quick)
    )
    ref = ", ".join(f"{k}={v}" for k, v in result.paper.items()) or "none"
    print(
        f"SUMMARY {spec.name:12s} {ours} | reference: {ref} | params {first['num_params']:,} | "
        f"{result.config['epoch_time_s']:.1f} s/epoch | {path}",
        flush=True,
    )
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--model", nargs="+", required=True, help="registry names of retrievers")
    p.add_argument("--dataset", choices=sorted(PROTOCOLS), default="ml-1m")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="model seeds")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a model config field, e.g. num_interests=4")  # fmt: skip
    p.add_argument("--epochs", type=int, default=None, help="epoch limit (default: protocol's)")
    p.add_argument("--patience", type=int, default=None, help="default: the protocol's")
    p.add_argument("--batch-size", type=int, default=None, help="default: the protocol's")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate")
    p.add_argument("--variant", default=None, help="results file suffix: <model>-<variant>.json")
    p.add_argument("--max-len", type=int, default=None,
                   help="history length the models see (default: the protocol's, 50 or 20)")
    p.add_argument("--out", type=Path, default=None,
                   help="results root (default: results/, or runs/recall-quick with --quick)")  # fmt: skip
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument("--quick", action="store_true",
                   help="smoke run on the embedded synthetic data: 1 epoch, tiny widths, seconds")  # fmt: skip
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    args = p.parse_args(argv)
    if args.max_len is not None and args.max_len < 1:
        p.error(f"--max-len must be at least 1, got {args.max_len}")
    if args.quick:
        args.epochs = args.epochs or 1
    return args


def main(argv: list[str] | None = None) -> list[Path]:
    given = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(given)
    torch.set_num_threads(args.threads)
    reuse_freed_memory()
    overrides = parse_set(args.set)
    args.commit = git_commit()  # the code as it was when training started
    print("loading data ...", flush=True)
    if args.quick:
        data = retrieval_synthetic()
    elif args.max_len:
        data = PROTOCOLS[args.dataset].build(args.max_len)
    else:
        data = PROTOCOLS[args.dataset].build()
    print(data, flush=True)
    return [run_model(name, args, data, overrides, given) for name in args.model]


if __name__ == "__main__":
    main()
