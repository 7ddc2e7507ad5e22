"""Do the rebuilt Frappe train negatives look like the published ones? A data check, no training.

``frappe-nfm-x1-rebuilt`` keeps the NFM validation and test files and rebuilds the train split,
drawing two negatives per positive from the items its user never used (``rebuild_frappe_train``).
FM and FFM score above their BARS rows on that split, and the rebuilt negatives are the first
suspect. This script measures, for the rebuilt train split of each seed and for the published
validation and test files:

* how popular the negative items are (their number of rows in the whole log): mean, median and the
  share with at most 5 rows;
* how many distinct items appear as negatives;
* the AUC of item popularity alone as a score, which says how easy the negatives are for the
  simplest signal every model learns first.

If the published negatives were drawn by another rule (say, in proportion to popularity), these
figures would differ between the rebuilt train split and the published files.

Writes ``results/benchmarks/frappe-negatives.json`` (or ``--out``) with the command, commit and date.

    python experiments/frappe_negatives.py [--seeds 0 1 2] [--out PATH]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recnotes.data.datasets import FrappeData, load_frappe, rebuild_frappe_train
from recnotes.metrics import auc
from recnotes.results import RESULTS_DIR, benchmark_report, write_report

SCRIPT = "experiments/frappe_negatives.py"


def negative_stats(rows: pd.DataFrame, popularity: np.ndarray) -> dict[str, float]:
    """Popularity figures of a split's negatives, and the AUC of popularity as a score."""
    items = rows["item_id"].to_numpy(copy=True)
    labels = rows["label"].to_numpy(copy=True)
    neg = popularity[items[labels == 0]]
    return {
        "rows": int(len(rows)),
        "negatives": int(neg.size),
        "negative_pop_mean": round(float(neg.mean()), 2),
        "negative_pop_median": float(np.median(neg)),
        "negative_share_pop_le_5": round(float(np.mean(neg <= 5)), 4),
        "distinct_negative_items": int(np.unique(items[labels == 0]).size),
        "popularity_auc": round(
            auc(torch.as_tensor(labels), torch.as_tensor(popularity[items], dtype=torch.float64)),
            4,
        ),
    }


def item_popularity(data: FrappeData) -> np.ndarray:
    """Rows per item code over the whole log (every logged row is a positive)."""
    codes = data.encode(data.logs)["item_id"].to_numpy()
    return np.bincount(codes, minlength=data.field_sizes["item_id"]).astype(np.float64)


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="rebuilt-train seeds")
    p.add_argument("--root", default=None, help="data folder (default: $RECNOTES_DATA)")
    p.add_argument("--out", type=Path, default=RESULTS_DIR / "benchmarks" / "frappe-negatives.json")
    args = p.parse_args(argv)
    load = os.getloadavg()
    data = load_frappe(root=args.root)
    popularity = item_popularity(data)
    figures = {
        f"train_seed{seed}": negative_stats(rebuild_frappe_train(data, seed=seed), popularity)
        for seed in args.seeds
    }
    figures["valid_published"] = negative_stats(data.validation, popularity)
    figures["test_published"] = negative_stats(data.test, popularity)
    for name, row in figures.items():
        print(f"{name:16s} " + "  ".join(f"{k}={v}" for k, v in row.items()), flush=True)
    report = benchmark_report(
        SCRIPT,
        argv,
        load_before=load,
        settings={
            "protocol": "frappe-nfm-x1-rebuilt",
            "popularity": "rows per item in the whole Frappe log",
            "seeds": args.seeds,
        },
        figures=figures,
    )
    write_report(report, args.out)
    return report


if __name__ == "__main__":
    main()
