"""Train the whole funnel on MovieLens-1M and measure every stage on the test split.

Protocol ``ml1m-pipeline-leave-latest-out`` (see ``recnotes.pipeline`` and the pipeline page):
the data of ``retrieval_movielens_1m()`` (each user's latest rating is the test item, the one before
it the validation item; users 3000-6040 have no timestamps and keep file order). Every stage is
trained on the training rows and selected on the validation users; the metrics are measured once
on the 6,040 test users, each served with the history before the test item and with every earlier
item excluded from recall:

* recall: Recall@200 / HR@200 / NDCG@200 of the 200 candidates;
* pre-rank and rank: AUC, GAUC and LogLoss over all (user, candidate) pairs of the recall lists
  (the test item is the positive, the other candidates negatives);
* re-rank: Precision@20 / NDCG@20 / ILD@20 of the final list (ILD with the retriever's item vectors,
  the vectors the re-rankers use as similarity), and the same for the ranker's top-20;
* the relevance/diversity sweep: NDCG@20 and ILD@20 as MMR's lambda (0..1) and DPP's theta
  (0..0.99) move, on the same ranked candidates of a seeded random sample of 2,000 test users; drawn into ``docs/assets/pipeline_sweep.png``.

Writes ``results/ml-1m/pipeline.json`` (a results file: metrics, sweep points in ``config``), saves
the trained pipeline (``--save``, default ``runs/pipeline``, what ``python -m recnotes recommend``
loads) and the plot.

    python experiments/pipeline_ml1m.py                  # ML-1M, about half an hour on one core
    python experiments/pipeline_ml1m.py --quick --out /tmp/p   # synthetic smoke run, seconds
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, replace
from pathlib import Path

import torch

from recnotes.pipeline import (
    evaluate_pipeline,
    ml1m_config,
    quick_config,
    rerank_sweep,
    run_funnel,
    train_pipeline,
)
from recnotes.results import RESULTS_DIR, Result, describe_device, git_commit

ROOT = Path(__file__).resolve().parent.parent
PLOT = ROOT / "docs" / "assets" / "pipeline_sweep.png"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="synthetic data, tiny models, seconds")
    p.add_argument("--out", type=Path, default=None,
                   help="results root (default: results/, or runs/pipeline-quick with --quick)")  # fmt: skip
    p.add_argument("--save", type=Path, default=None,
                   help="where the trained pipeline goes (default: runs/pipeline, runs/pipeline-quick)")  # fmt: skip
    p.add_argument("--plot", type=Path, default=None,
                   help=f"sweep plot PNG (default: {PLOT.relative_to(ROOT)}; with --quick: next to the JSON)")  # fmt: skip
    p.add_argument("--users", type=int, default=None, help="evaluate the first N test users only")
    p.add_argument("--load", type=Path, default=None,
                   help="evaluate a pipeline saved by `python -m recnotes pipeline train` instead of training")  # fmt: skip
    p.add_argument("--recall-epochs", type=int, default=None, help="retriever epoch limit")
    p.add_argument("--retrievers-from", type=Path, default=None,
                   help="re-use the trained retrievers of a saved pipeline; train pre-rank and rank only")  # fmt: skip
    p.add_argument("--rank-epochs", type=int, default=None, help="pre-rank/rank epoch limit")
    p.add_argument("--sweep-users", type=int, default=2000,
                   help="test users (seeded random sample) the lambda/theta sweep re-ranks")  # fmt: skip
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    return p.parse_args(argv)


def plot_sweep(points: list[dict], path: Path, k: int = 20) -> Path:
    """NDCG@k against ILD@k, one line per re-ranker, each point labelled with its parameter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    styles = {"mmr": ("o-", "#3f51b5", "MMR (λ)"), "dpp": ("s--", "#e65100", "DPP (θ)")}
    for method, (fmt, color, label) in styles.items():
        rows = [p for p in points if p["method"] == method]
        if not rows:
            continue
        x, y = [p[f"ild@{k}"] for p in rows], [p[f"ndcg@{k}"] for p in rows]
        ax.plot(x, y, fmt, color=color, label=label, markersize=5)
        for p, xi, yi in zip(rows, x, y, strict=True):
            ax.annotate(f"{p['value']:g}", (xi, yi), textcoords="offset points", xytext=(4, 4),
                        fontsize=7, color=color)  # fmt: skip
    ax.set_xlabel(f"ILD@{k} (1 - cosine of the retriever's item vectors)")
    ax.set_ylabel(f"NDCG@{k}")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> Path:
    given = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(given)
    torch.set_num_threads(args.threads)
    commit, start = git_commit(), time.perf_counter()
    print("loading data ...", flush=True)
    if args.quick:
        from recnotes.data.retrieval import retrieval_synthetic

        data, dataset = retrieval_synthetic(), {"name": "synthetic"}
        config = quick_config(seed=args.seed)
    else:
        from recnotes.data.retrieval import retrieval_movielens_1m

        data, dataset = retrieval_movielens_1m(max_len=50), {"name": "ml-1m", "max_len": 50}
        config = ml1m_config(seed=args.seed)
    changes = {}
    if args.recall_epochs:
        changes["recall_epochs"] = args.recall_epochs
    if args.rank_epochs:
        changes["rank_epochs"] = args.rank_epochs
    if changes:
        config = replace(config, **changes)
    print(data, flush=True)
    if args.load is not None:
        from recnotes.pipeline import load_pipeline

        pipe = load_pipeline(args.load, data)
        config = pipe.config
    else:
        retrievers = None
        if args.retrievers_from is not None:
            from recnotes.pipeline import load_pipeline

            retrievers = load_pipeline(args.retrievers_from, data).retrievers
            config = replace(config, retrievers=tuple(retrievers))
            print(f"re-using the retrievers saved in {args.retrievers_from}", flush=True)
        pipe = train_pipeline(data, config, retrievers=retrievers)
        save = args.save or Path("runs") / ("pipeline-quick" if args.quick else "pipeline")
        pipe.save(save, dataset)
        print(f"saved the pipeline to {save}", flush=True)
    t0 = time.perf_counter()
    funnel = run_funnel(pipe, "test", args.users)
    metrics = evaluate_pipeline(pipe, "test", funnel=funnel)
    for key, value in metrics.items():
        print(f"  {key:24s} {value:.4f}", flush=True)
    points = rerank_sweep(pipe, funnel=funnel, sample=args.sweep_users, seed=args.seed)
    print(f"stage metrics and sweep in {time.perf_counter() - t0:.0f} s", flush=True)
    result = Result(
        model="pipeline",
        dataset="synthetic" if args.quick else "ml-1m",
        protocol="synthetic-pipeline-loo" if args.quick else "ml1m-pipeline-leave-latest-out",
        metrics={k: round(v, 5) for k, v in metrics.items()},
        command=" ".join(
            ["python", "experiments/pipeline_ml1m.py", *(shlex.quote(a) for a in given)]
        ),
        commit=commit,
        device=describe_device("cpu") + f", {args.threads} torch thread(s)",
        wall_time_s=round(time.perf_counter() - start, 1),
        seeds=[args.seed],
        config={
            "pipeline": json.loads(json.dumps(asdict(config), default=list)),
            "ranker": json.loads(json.dumps(asdict(pipe.ranker.config), default=list)),
            "prerank": json.loads(json.dumps(asdict(pipe.prerank.config), default=list)),
            "test_users": int(funnel.rows.shape[0]),
            "sweep_users": min(args.sweep_users, int(funnel.rows.shape[0])),
            "sweep": [
                {k: (round(v, 5) if isinstance(v, float) else v) for k, v in p.items()}
                for p in points
            ],  # fmt: skip
        },
        notes=(
            "quick smoke run on synthetic data; not a measurement"
            if args.quick
            else (
                "No published number exists for this funnel. " + data.notes + ". Pre-rank and rank "
                "AUC/GAUC/LogLoss over all (user, candidate) pairs of the "
                f"{config.topk_recall} recall candidates (test item positive); trained with "
                f"{config.negatives} uniform unseen and {config.hard_negatives} recall-list "
                f"negative(s) per positive on a sample of {config.max_rank_rows:,} training "
                "interactions, so LogLoss is not calibrated to the candidate lists. ILD uses the "
                "primary retriever's item vectors (cosine distance). The lambda/theta sweep "
                "(config.sweep) re-ranks a seeded random sample of test users (sweep_users)."
                + (
                    f" Retrievers re-used from {args.retrievers_from} (trained by the same script)."
                    if args.retrievers_from
                    else ""
                )
            )
        ),
    )
    root = args.out or (Path("runs") / "pipeline-quick" if args.quick else RESULTS_DIR)
    path = result.save(Path(root) / result.dataset / "pipeline.json")
    plot = args.plot or (path.with_suffix(".png") if args.quick else PLOT)
    plot_sweep(points, plot, config.topk_final)
    print(f"results: {path}\nplot: {plot}", flush=True)
    return path


if __name__ == "__main__":
    main()
