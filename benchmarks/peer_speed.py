"""DeepFM and DCN-V2 in recnotes, torch-rechub and DeepCTR-Torch, side by side, on this machine.

Each library trains each model on the same MovieLens-1M CTR arrays (DCN-V2 protocol, split seed 0;
fields user id, movie id, gender, age, occupation, zip) with the same batch size, embedding size,
MLP, number of cross layers (DCN-V2, full-rank "matrix" cross layers in every library), epochs,
optimiser (Adam, lr 1e-3) and torch threads; every other setting is the library's default. Reports,
per library x model:

* training samples/s: training rows x epochs / seconds of the library's own training call
  (``recnotes.train.Trainer.fit``, ``torch_rechub.trainers.CTRTrainer.fit``,
  ``deepctr_torch`` ``model.fit``), timed with ``time.perf_counter`` around that call only; data
  preparation (tables, data loaders, feature columns), model construction and test scoring are
  outside the timer, and no validation runs inside it;
* peak memory: the peak resident set size of the process that ran it (``VmHWM`` from
  ``/proc/self/status``; not ``ru_maxrss``, which Linux carries over from the parent across
  fork + exec) — every library x model runs in its own fresh process, so the figure covers its
  imports, the arrays, the model, training and test scoring, and nothing of the others;
* test AUC after the last epoch, computed by one function for all three from each library's own
  test predictions.

A fourth row per model, ``floor``, is not a library: it times the model's MLP (and DCN-V2's cross
layers) alone on one random batch, the fp32 GEMMs every library's step contains and nothing else
(``peer_speed_runner.run_floor``). No library can train the model faster than that on this machine,
so it shows how much room a speed goal has.

The peers are never recnotes dependencies: they are installed, with one pip command, into a separate
virtual environment (``.cache/peer-venv``, ignored by git) and run from there; recnotes runs in the
current environment. The encoded arrays are exported once to ``.cache/peer-speed/`` as an ``.npz``
that every runner reads. Needs the real data under ``RECNOTES_DATA`` (except ``--quick`` uses it too,
on a small slice).

    python benchmarks/peer_speed.py [--epochs 1] [--threads 1] [--rounds 3] [--quick] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
RUNNER = Path(__file__).resolve().parent / "peer_speed_runner.py"
CACHE = REPO / ".cache"
PEER_VENV = CACHE / "peer-venv"
#: One pip command installs all three; torch pinned so pip does not pull a CUDA build.
PEER_PINS = ("torch==2.13.0", "deepctr-torch==0.3.0", "torch-rechub==0.9.0")
LIBRARIES = ("recnotes", "torch-rechub", "deepctr-torch", "floor")
MODELS = ("deepfm", "dcn-v2")
FEATURES = ("user_ids", "item_ids", "gender", "age", "occupation", "zip")
DEFAULT_OUT = REPO / "results" / "benchmarks" / "peer-speed.json"  # the leaderboard page renders it
QUICK_OUT = CACHE / "peer-speed" / "peer-speed-quick.json"
QUICK_ROWS = (20_000, 5_000)  # train rows, test rows of the --quick slice
ROW_PREFIX = "PEER_SPEED_ROW "


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--epochs", type=int, default=1, help="training epochs (default 1)")
    parser.add_argument("--threads", type=int, default=1, help="torch/OpenMP threads per run")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--embed-dim", type=int, default=16)
    parser.add_argument(
        "--hidden",
        type=int,
        nargs="+",
        default=[256, 128, 64],
        help="MLP widths (all three libraries)",
    )
    parser.add_argument("--cross-layers", type=int, default=3, help="DCN-V2 cross layers")
    parser.add_argument("--libraries", nargs="+", choices=LIBRARIES, default=list(LIBRARIES))
    parser.add_argument(
        "--models", nargs="+", choices=(*MODELS, "embedding-mlp"), default=list(MODELS)
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: first {QUICK_ROWS[0]:,} train / {QUICK_ROWS[1]:,} test "
        "rows, 1 epoch, written under .cache/",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        default=3,
        help="run every library x model this many times, the order rotated each round, and "
        "report the median samples/s (a shared machine's speed drifts over minutes)",
    )
    parser.add_argument("--venv", type=Path, default=PEER_VENV, help="the peers' environment")
    parser.add_argument(
        "--out", type=Path, help=f"JSON file (default {DEFAULT_OUT.relative_to(REPO)})"
    )
    args = parser.parse_args(argv)
    if min(args.epochs, args.threads, args.batch_size, args.embed_dim, args.rounds) < 1:
        parser.error(
            "--epochs, --threads, --batch-size, --embed-dim and --rounds must be at least 1"
        )
    if args.quick:
        args.epochs, args.rounds = 1, 1
    if args.out is None:
        args.out = QUICK_OUT if args.quick else DEFAULT_OUT
    return args


def export_arrays(train, test, path: Path, *, features=FEATURES, limit=None) -> Path:
    """Write the encoded train/test columns of two FeatureTables to one ``.npz``.

    Keys: ``features`` (names), ``vocab_sizes`` (per feature, from the schema),
    ``train__<feature>`` / ``test__<feature>`` (int64 ids) and ``train__label`` / ``test__label``
    (float32). ``limit=(n_train, n_test)`` keeps the first rows only.
    """
    features = list(features)
    n_train, n_test = limit if limit is not None else (len(train), len(test))
    arrays = {
        "features": np.asarray(features),
        "vocab_sizes": np.asarray([train.schema[f].vocab_size for f in features], dtype=np.int64),
    }
    for part, table, n in (("train", train, n_train), ("test", test, n_test)):
        for f in (*features, "label"):
            column = table.columns[f][:n].numpy()
            arrays[f"{part}__{f}"] = column.astype(np.float32 if f == "label" else np.int64)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays)
    tmp.replace(path)
    return path


def ensure_peer_venv(venv: Path) -> Path:
    """The peers' Python; creates the environment and installs the pins on first use."""
    from recnotes.results import ensure_venv

    return ensure_venv(venv, PEER_PINS)


def runner_command(python, library: str, model: str, npz: Path, args) -> list[str]:
    """The command line that runs one library x model."""
    return [
        str(python), str(RUNNER), "--library", library, "--model", model, "--npz", str(npz),
        "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
        "--embed-dim", str(args.embed_dim), "--hidden", *map(str, args.hidden),
        "--cross-layers", str(args.cross_layers), "--threads", str(args.threads),
    ]  # fmt: skip


def run_one(command: list[str], threads: int) -> dict:
    """Run a runner process; return the row it printed (stderr passes through on failure)."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env[var] = str(threads)
    env["TQDM_DISABLE"] = "1"  # torch-rechub's trainer always draws progress bars
    env["PYTHONPATH"] = ""  # the peers' environment must not see the recnotes checkout
    proc = subprocess.run(command, capture_output=True, text=True, env=env, cwd=REPO)
    rows = [
        line[len(ROW_PREFIX) :] for line in proc.stdout.splitlines() if line.startswith(ROW_PREFIX)
    ]
    if proc.returncode != 0 or not rows:
        tail = "\n".join((proc.stdout + proc.stderr).splitlines()[-30:])
        raise RuntimeError(f"{' '.join(command[2:6])} failed (exit {proc.returncode}):\n{tail}")
    return json.loads(rows[-1])


def run_order(models, libraries, round_index: int) -> list[tuple[str, str]]:
    """Every (model, library) once, rotated by the round so no library always runs first.

    Example:
        >>> run_order(["deepfm"], ["a", "b", "c"], 1)
        [('deepfm', 'b'), ('deepfm', 'c'), ('deepfm', 'a')]
    """
    pairs = [(m, lib) for m in models for lib in libraries]
    k = round_index % len(pairs)
    return pairs[k:] + pairs[:k]


def median_row(runs: list[dict]) -> dict:
    """One library x model's row from its rounds: the run with the median throughput.

    Its figures are that run's (an odd number of rounds has one median run; an even number takes
    the slower of the two middle ones); ``rounds_samples_per_s`` lists every round's throughput
    and ``peak_mem_mb`` is the largest peak over the rounds.

    Example:
        >>> rows = [{"samples_per_s": s, "peak_mem_mb": m} for s, m in ((3, 10), (1, 12), (2, 11))]
        >>> row = median_row(rows)
        >>> row["samples_per_s"], row["rounds_samples_per_s"], row["peak_mem_mb"]
        (2, [3, 1, 2], 12)
    """
    if not runs:
        raise ValueError("no runs to summarise")
    ordered = sorted(runs, key=lambda row: row["samples_per_s"])
    row = dict(ordered[(len(ordered) - 1) // 2])
    row["rounds_samples_per_s"] = [run["samples_per_s"] for run in runs]
    row["peak_mem_mb"] = max(run["peak_mem_mb"] for run in runs)
    return row


def render_table(rows: list[dict]) -> str:
    """A fixed-width text table of the rows (library, model, samples/s, memory, AUC, seconds)."""
    head = ("library", "version", "model", "samples/s", "peak MiB", "test AUC", "train s")
    body = [
        (
            r["library"], str(r["version"]), r["model"], f"{r['samples_per_s']:,.0f}",
            f"{r['peak_mem_mb']:,.0f}", "-" if r["test_auc"] is None else f"{r['test_auc']:.4f}",
            f"{r['train_seconds']:.1f}",
        )
        for r in rows
    ]  # fmt: skip
    widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]
    numeric = {3, 4, 5, 6}

    def line(cells) -> str:
        return "  ".join(
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths))
        ).rstrip()

    return "\n".join([line(head), line(["-" * w for w in widths]), *map(line, body)]) + "\n"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    from recnotes.data.datasets import movielens_1m_ctr
    from recnotes.results import describe_device, git_commit

    started, commit = time.perf_counter(), git_commit()  # the code as it was at the start
    load_before = os.getloadavg()  # a shared machine's load moves every figure; say what it was
    split = movielens_1m_ctr(seed=0)
    npz = CACHE / "peer-speed" / ("ml1m-ctr-quick.npz" if args.quick else "ml1m-ctr.npz")
    export_arrays(split.train, split.test, npz, limit=QUICK_ROWS if args.quick else None)
    print(f"arrays: {npz.relative_to(REPO)}", flush=True)
    peers = [lib for lib in args.libraries if lib not in ("recnotes", "floor")]
    peer_python = ensure_peer_venv(args.venv) if peers else None

    runs: dict[tuple[str, str], list[dict]] = {}
    for r in range(args.rounds):
        for model, library in run_order(args.models, args.libraries, r):
            python = sys.executable if library in ("recnotes", "floor") else peer_python
            row = run_one(runner_command(python, library, model, npz, args), args.threads)
            runs.setdefault((library, model), []).append(row)
            auc = "-" if row["test_auc"] is None else f"{row['test_auc']:.4f}"
            print(
                f"round {r + 1}/{args.rounds} {library:>14} {model:<8} "
                f"{row['samples_per_s']:>10,.0f} samples/s  "
                f"peak {row['peak_mem_mb']:,.0f} MiB  AUC {auc}",
                flush=True,
            )
    rows = [median_row(runs[(lib, m)]) for m in args.models for lib in args.libraries]

    report = {
        "command": " ".join(["python", *sys.argv])
        if argv is None
        else " ".join(["python", "benchmarks/peer_speed.py", *argv]),
        "commit": commit,
        "device": describe_device("cpu"),
        "date": date.today().isoformat(),
        "wall_time_s": time.perf_counter() - started,
        "load_average": {"before": list(load_before), "after": list(os.getloadavg())},
        "settings": {
            "dataset": "ml-1m",
            "protocol": "ctr-random-80-10-10 (DCN-V2 paper), split seed 0",
            "features": list(FEATURES),
            "train_rows": rows[0]["train_rows"] if rows else None,
            "test_rows": rows[0]["test_rows"] if rows else None,
            "quick": args.quick,
            "epochs": args.epochs,
            "batch_size": args.batch_size,
            "embed_dim": args.embed_dim,
            "hidden": list(args.hidden),
            "cross_layers": args.cross_layers,
            "optimizer": "Adam, lr 1e-3, no weight decay",
            "threads": args.threads,
            "rounds": args.rounds,
            "peer_install": "pip install " + " ".join(PEER_PINS),
            "timing": "time.perf_counter around the library's own training call only "
            "(Trainer.fit / CTRTrainer.fit / model.fit); no validation inside it; with rounds > 1 "
            "each row is the run of median throughput over the rounds (order rotated per round)",
            "memory": "peak RSS (VmHWM) of a fresh process per library x model (whole process: "
            "imports, arrays, model, training, test scoring)",
        },
        "rows": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print()
    print(render_table(rows), end="")
    print(f"\nwrote {args.out}")
    return report


if __name__ == "__main__":
    main()
