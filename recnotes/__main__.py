"""The recnotes command line.

    python -m recnotes list                      models by pipeline stage
    python -m recnotes datasets                  the datasets and where their files go
    python -m recnotes train MODEL [options]     train on a dataset, evaluate on its test split
    python -m recnotes evaluate CHECKPOINT_DIR   re-evaluate a trained model on its test split
    python -m recnotes pipeline train [--quick]   train recall -> pre-rank -> rank -> re-rank
    python -m recnotes recommend --user ID       the funnel's list for a user (saved pipeline)
    python -m recnotes recommend --user ID --checkpoint CHECKPOINT_DIR   one ranking model's top-k

Every command prints what it does; errors say what to do next (an unknown model lists the known
ones, a missing dataset file says where to put it).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

__all__ = ["main", "build_parser"]

EPILOG = """examples:
  python -m recnotes list
  python -m recnotes train toy --dataset synthetic --epochs 3 --out runs/toy
  python -m recnotes evaluate runs/toy
  python -m recnotes recommend --user 42 --checkpoint runs/toy
  python -m recnotes pipeline train --quick --out runs/pipeline-quick
  python -m recnotes recommend --user 42 --pipeline runs/pipeline-quick
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m recnotes",
        description="Train, evaluate and try the recommender models described in the recnotes notes.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("list", help="list the models by pipeline stage")
    p.add_argument("--stage", help="only this stage (recall, prerank, ranking, rerank, ...)")

    sub.add_parser("datasets", help="list the datasets, their protocols and where their files go")

    p = sub.add_parser(
        "train",
        help="train a model on a dataset and evaluate it on the test split",
        description="Train MODEL on DATASET with the Trainer (validation each epoch, early stopping), "
        "then evaluate on the test split. Writes a checkpoint folder and, with --results, a results JSON.",
    )
    p.add_argument("model", help="registry name of the model (see `python -m recnotes list`)")
    p.add_argument("--dataset", default="synthetic", help="dataset task (default: synthetic; see `datasets`)")
    p.add_argument("--epochs", type=int, default=5, help="maximum epochs (default: 5)")
    p.add_argument("--batch-size", type=int, default=1024, help="batch size (default: 1024)")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate (default: 1e-3)")
    p.add_argument("--weight-decay", type=float, default=0.0, help="L2 penalty (default: 0)")
    p.add_argument("--patience", type=int, default=2, help="early-stopping patience in epochs (default: 2)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda (default: auto)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model config field, e.g. --set embed_dim=16 (repeatable; values are JSON)",
    )
    p.add_argument("--out", default=None, help="checkpoint folder (default: runs/<model>-<dataset>)")
    p.add_argument("--results", default=None, help="write a results JSON file here")
    p.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--threads",
        type=int,
        default=0,
        help="CPU threads for torch (default: torch's choice; 1 is often fastest on a busy machine)",
    )

    p = sub.add_parser("evaluate", help="evaluate a trained checkpoint on its dataset's test split")
    p.add_argument("checkpoint", help="a folder written by `train` (holds config.json and best.pt)")

    p = sub.add_parser(
        "pipeline",
        help="train the recall -> pre-rank -> rank -> re-rank pipeline",
        description="Train every stage of the funnel in order (retriever, pre-ranker, ranker; the "
        "re-ranker has no parameters) on MovieLens-1M, or on the synthetic data with --quick, and "
        "save it for `recommend`.",
    )
    p.add_argument("action", choices=["train"], help="what to do (train)")
    p.add_argument("--dataset", choices=["ml-1m", "synthetic"], default="ml-1m",
                   help="ml-1m (needs ml-1m/ under RECNOTES_DATA) or synthetic (default: ml-1m)")  # fmt: skip
    p.add_argument("--quick", action="store_true",
                   help="synthetic data and tiny models, seconds (also when RECNOTES_QUICK=1)")  # fmt: skip
    p.add_argument("--out", default="runs/pipeline", help="folder for the trained pipeline (default: runs/pipeline)")
    p.add_argument("--retriever", action="append", default=None, metavar="NAME",
                   help="registered retriever (repeat to merge several; default: dssm)")  # fmt: skip
    p.add_argument("--ranker", default=None, help="registered ranking model (default: embedding-mlp)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for torch (default: 1)")

    p = sub.add_parser(
        "recommend",
        help="a user's recommendations: the saved pipeline's funnel, or one checkpoint's top-k",
        description="Without --checkpoint: load the pipeline saved by `pipeline train` and print the "
        "user's final list with every stage's scores and the funnel. With --checkpoint: the top-k "
        "of one trained ranking model.",
    )
    p.add_argument("--user", type=int, required=True, help="user id (as in the dataset)")
    p.add_argument("--checkpoint", default=None, help="a folder written by `train` (one ranking model)")
    p.add_argument("--pipeline", default="runs/pipeline",
                   help="a folder written by `pipeline train` (default: runs/pipeline)")  # fmt: skip
    p.add_argument("-k", type=int, default=None, help="how many items (default: 20 pipeline, 10 checkpoint)")
    p.add_argument("--topk-recall", type=int, default=None, help="recall candidates (default: 200)")
    p.add_argument("--reranker", choices=["mmr", "dpp"], default=None, help="default: mmr")
    p.add_argument("--lambda", dest="lambda_mmr", type=float, default=None,
                   help="MMR trade-off in [0, 1]; 1 keeps the ranker's order (default: 0.5)")  # fmt: skip
    p.add_argument("--theta", type=float, default=None, help="DPP trade-off in [0, 1) (default: 0.5)")
    return parser


def _parse_overrides(pairs: list[str]) -> dict:
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise SystemExit(f"error: --set expects KEY=VALUE, got {pair!r}")
        key, value = pair.split("=", 1)
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _cmd_list(args: argparse.Namespace) -> int:
    from recnotes import registry

    stages = [args.stage] if args.stage else list(registry.STAGES)
    if args.stage and args.stage not in registry.STAGES:
        print(f"error: unknown stage {args.stage!r}; stages: {', '.join(registry.STAGES)}", file=sys.stderr)
        return 2
    for stage in stages:
        found = registry.specs(stage)
        print(f"{stage} ({len(found)})")
        for s in found:
            print(f"  {s.name:<16} {s.display_name:<16} {s.paper.cite():<40} {s.status}")
        if not found:
            print("  (no models yet)")
    return 0


def _cmd_datasets(args: argparse.Namespace) -> int:
    from recnotes.tasks import TASKS

    for name, task in TASKS.items():
        print(f"{name:<14} {task.description}")
    return 0


def _cmd_train(args: argparse.Namespace, argv: list[str]) -> int:
    from recnotes import registry
    from recnotes.tasks import train_model

    spec = registry.get(args.model)
    if args.threads < 0:
        raise ValueError(f"--threads must be >= 0, got {args.threads}")
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    out = Path(args.out or f"runs/{spec.name}-{args.dataset}")
    command = "python -m recnotes " + " ".join(shlex.quote(a) for a in argv)
    start = time.perf_counter()
    result = train_model(
        spec,
        dataset=args.dataset,
        out=out,
        overrides=_parse_overrides(args.set),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        patience=args.patience,
        seed=args.seed,
        device=args.device,
        resume=args.resume,
        progress=not args.quiet,
        command=command,
    )
    print(f"trained {spec.display_name} on {args.dataset} in {time.perf_counter() - start:.1f} s")
    print("test: " + ", ".join(f"{k}={v:.4f}" for k, v in result.metrics.items()))
    print(f"checkpoint: {out}")
    if args.results:
        path = result.save(args.results)
        print(f"results: {path}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from recnotes.tasks import evaluate_checkpoint

    metrics = evaluate_checkpoint(Path(args.checkpoint))
    print("test: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()))
    return 0


def _cmd_pipeline(args: argparse.Namespace) -> int:
    import os
    from dataclasses import replace

    import torch

    from recnotes.pipeline import ml1m_config, quick_config, train_pipeline

    torch.set_num_threads(max(1, args.threads))
    quick = args.quick or os.environ.get("RECNOTES_QUICK") == "1"
    if quick or args.dataset == "synthetic":
        from recnotes.data.retrieval import retrieval_synthetic

        data, dataset, config = retrieval_synthetic(), {"name": "synthetic"}, quick_config()
    else:
        from recnotes.data.retrieval import retrieval_movielens_1m

        data, dataset = retrieval_movielens_1m(max_len=50), {"name": "ml-1m", "max_len": 50}
        config = ml1m_config()
    changes: dict = {"seed": args.seed}
    if args.retriever:
        changes["retrievers"] = tuple(args.retriever)
    if args.ranker:
        changes["ranker"] = args.ranker
        changes["ranker_config"] = {}
    config = replace(config, **changes)
    print(f"training the pipeline on {data}", flush=True)
    pipe = train_pipeline(data, config)
    out = pipe.save(args.out, dataset)
    print(f"pipeline: {out}\ntry it: python -m recnotes recommend --user "
          f"{int(data.test.user_ids[0])} --pipeline {out}")  # fmt: skip
    return 0


def _cmd_recommend_pipeline(args: argparse.Namespace) -> int:
    from recnotes.pipeline import load_pipeline

    pipe = load_pipeline(Path(args.pipeline))
    options = {"reranker": args.reranker, "theta_dpp": args.theta}
    rec = pipe.recommend_for_user(args.user, args.topk_recall, args.k, args.lambda_mmr, **options)
    f = rec.funnel
    print(
        f"funnel for user {rec.user_id}: catalogue {f['catalogue']:,} -> recall {f['recall']} -> "
        f"pre-rank {f['prerank']} -> rank {f['rank']} -> re-rank {f['rerank']}"
    )
    print(f"{'':>4} {'item':>6} {'recall':>7} {'prerank':>8} {'rank':>7}  title")
    for i, row in enumerate(rec.items, start=1):
        print(f"{i:>3}. {row['item_id']:>6} {row['recall_score']:+7.3f} {row['prerank_score']:+8.3f} "
              f"{row['rank_score']:+7.3f}  {row['title']}")  # fmt: skip
    return 0


def _cmd_recommend(args: argparse.Namespace) -> int:
    from recnotes.tasks import recommend_from_checkpoint

    if args.checkpoint is None:
        return _cmd_recommend_pipeline(args)
    args.k = 10 if args.k is None else args.k
    rows = recommend_from_checkpoint(Path(args.checkpoint), user_id=args.user, k=args.k)
    print(f"top-{args.k} for user {args.user}:")
    for rank, row in enumerate(rows, start=1):
        print(f"{rank:>3}. item {row['item_id']:<7} score {row['score']:+.3f}  {row.get('title', '')}")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    from recnotes.data.paths import DataNotFoundError
    from recnotes.registry import UnknownModelError

    try:
        if args.command == "list":
            return _cmd_list(args)
        if args.command == "datasets":
            return _cmd_datasets(args)
        if args.command == "train":
            return _cmd_train(args, argv)
        if args.command == "evaluate":
            return _cmd_evaluate(args)
        if args.command == "recommend":
            return _cmd_recommend(args)
        if args.command == "pipeline":
            return _cmd_pipeline(args)
    except (UnknownModelError, DataNotFoundError, FileNotFoundError, ValueError, KeyError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    parser.error(f"unknown command {args.command}")
    return 2


if __name__ == "__main__":
    sys.exit(main())
