"""Train one model of one library on the exported ML-1M CTR arrays; print one JSON row.

Run by ``benchmarks/peer_speed.py``, once per library x model, each in a fresh process so the peak
resident memory (``VmHWM``) belongs to that run alone. This file imports only NumPy, PyTorch and
the library under test, so the same file runs in the recnotes environment and in the separate
environment that holds the peers (which never become recnotes dependencies).

    python benchmarks/peer_speed_runner.py --library recnotes --model deepfm --npz ARRAYS.npz \
        --epochs 1 --batch-size 1024 --embed-dim 16 --hidden 256 128 64 --cross-layers 3

What is timed: the library's own training call (``Trainer.fit``, ``CTRTrainer.fit``,
``BaseModel.fit``) with ``time.perf_counter`` around it, nothing else. Building the library's
inputs from the arrays (tables, data loaders, feature columns), building the model and scoring the
test rows are outside the timer. The test AUC is computed here by one function for every library,
from the library's own test predictions.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from importlib import metadata

import numpy as np
import torch

LIBRARIES = ("recnotes", "torch-rechub", "deepctr-torch", "floor")
MODELS = ("deepfm", "dcn-v2")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--library", choices=LIBRARIES, required=True)
    parser.add_argument("--model", choices=(*MODELS, "embedding-mlp"), required=True)
    parser.add_argument("--npz", required=True, help="arrays written by peer_speed.export_arrays")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--embed-dim", type=int, default=16)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 128, 64])
    parser.add_argument("--cross-layers", type=int, default=3)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def load_arrays(path: str) -> dict:
    """The exported arrays: feature names, vocabulary sizes, train/test ids and labels."""
    with np.load(path, allow_pickle=False) as z:
        features = [str(f) for f in z["features"]]
        return {
            "features": features,
            "vocab_sizes": {f: int(v) for f, v in zip(features, z["vocab_sizes"])},
            "train": {f: z[f"train__{f}"] for f in features},
            "test": {f: z[f"test__{f}"] for f in features},
            "train_label": z["train__label"],
            "test_label": z["test__label"],
        }


def auc(labels: np.ndarray, scores: np.ndarray) -> float:
    """ROC AUC by the rank-sum formula, ties sharing their average rank."""
    labels = np.asarray(labels, dtype=np.float64).ravel()
    scores = np.asarray(scores, dtype=np.float64).ravel()
    order = np.argsort(scores, kind="mergesort")
    sorted_scores = scores[order]
    ranks = np.empty(len(scores), dtype=np.float64)
    starts = np.flatnonzero(np.r_[True, sorted_scores[1:] != sorted_scores[:-1]])
    ends = np.r_[starts[1:], len(scores)]
    for s, e in zip(starts, ends):  # one entry per distinct score
        ranks[order[s:e]] = (s + e + 1) / 2.0
    pos = labels > 0.5
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("AUC needs both classes among the test labels")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def peak_rss_mb() -> float:
    """Peak resident set size of this process's address space, in MiB (``VmHWM``, Linux).

    Not ``getrusage().ru_maxrss``: Linux carries that figure across ``fork`` + ``exec``, so a child
    of a parent that holds the whole dataset would report the parent's peak. ``VmHWM`` starts anew
    with the address space that ``exec`` creates.
    """
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmHWM in /proc/self/status (the benchmark needs Linux)")


def current_rss_mb() -> float:
    """Resident set size now, in MiB, from /proc (Linux)."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


# -- recnotes -----------------------------------------------------------------------------------
def run_recnotes(args: argparse.Namespace, data: dict) -> dict:
    from recnotes.data import Feature, FeatureTable, Schema
    from recnotes.registry import get
    from recnotes.train import TrainConfig, Trainer, seed_everything

    features = data["features"]
    schema = Schema(
        [Feature(f, "sparse", vocab_size=data["vocab_sizes"][f]) for f in features]
        + [Feature("label", "label")]
    )
    train = FeatureTable({**data["train"], "label": data["train_label"]}, schema)
    test = FeatureTable(data["test"], schema)
    spec = get(args.model)  # registry names equal the --model choices
    settings = _recnotes_settings(spec.config_cls, args)
    seed_everything(args.seed)
    model = spec.cls(schema, spec.config_cls(**settings))
    config = TrainConfig(
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer="adam",
        progress=False,
        device="cpu",
        seed=args.seed,
    )
    trainer = Trainer(model, config)
    rss_before = current_rss_mb()
    start = time.perf_counter()
    trainer.fit(train)
    seconds = time.perf_counter() - start
    model.eval()
    scores = []
    with torch.no_grad():
        for s in range(0, len(test), 8192):
            scores.append(torch.sigmoid(model(test[s : s + 8192])).numpy())
    import recnotes

    return {
        "version": getattr(recnotes, "__version__", "dev"),
        "train_seconds": seconds,
        "rss_before_train_mb": rss_before,
        "scores": np.concatenate(scores),
        "model_settings": {k: list(v) if isinstance(v, tuple) else v for k, v in settings.items()},
    }


def _recnotes_settings(config_cls: type, args: argparse.Namespace) -> dict:
    """The pinned settings, under the config field names this model has.

    Pinned for every library: embedding size, MLP widths, no dropout (both peers' default; recnotes'
    DeepFM defaults to the paper's 0.5) and, for DCN-V2, the number of full-rank cross layers in the
    parallel structure (the only one DeepCTR-Torch has; recnotes defaults to stacked).
    """
    fields = set(config_cls.__dataclass_fields__)
    wanted: dict = {"embed_dim": args.embed_dim, "hidden": tuple(args.hidden), "dropout": 0.0}
    if args.model == "dcn-v2":
        wanted.update(
            num_cross_layers=args.cross_layers, low_rank=0, num_experts=1, structure="parallel"
        )
    missing = [k for k in wanted if k not in fields]
    if missing:
        raise ValueError(f"{config_cls.__name__} lacks the fields {missing}")
    return wanted


# -- torch-rechub -------------------------------------------------------------------------------
def run_rechub(args: argparse.Namespace, data: dict) -> dict:
    from torch_rechub.basic.features import SparseFeature
    from torch_rechub.models.ranking import DCNv2, DeepFM
    from torch_rechub.trainers import CTRTrainer
    from torch_rechub.utils.data import DataGenerator

    torch.manual_seed(args.seed)
    feats = [
        SparseFeature(f, vocab_size=data["vocab_sizes"][f], embed_dim=args.embed_dim)
        for f in data["features"]
    ]
    mlp_params = {"dims": list(args.hidden), "dropout": 0.0, "activation": "relu"}
    settings: dict = {"embed_dim": args.embed_dim, "mlp_params": mlp_params}
    if args.model == "deepfm":
        # As the library's Criteo example: every sparse field feeds both the FM and the deep part.
        model = DeepFM(deep_features=feats, fm_features=feats, mlp_params=mlp_params)
    elif args.model == "dcn-v2":
        # Full-rank cross layers (the DCN-V2 "matrix" form); the library's default is the
        # low-rank mixture (DCN-Mix), which is a different model.
        model = DCNv2(
            features=feats,
            n_cross_layers=args.cross_layers,
            mlp_params=mlp_params,
            model_structure="parallel",
            use_low_rank_mixture=False,
        )
        settings.update(
            n_cross_layers=args.cross_layers, model_structure="parallel", use_low_rank_mixture=False
        )
    else:
        raise ValueError(f"torch-rechub runner has no {args.model}")
    generator = DataGenerator(data["train"], data["train_label"].astype(np.float32))
    train_dl, _, test_dl = generator.generate_dataloader(
        x_val=data["test"],
        y_val=data["test_label"],
        x_test=data["test"],
        y_test=data["test_label"],
        batch_size=args.batch_size,
    )
    with tempfile.TemporaryDirectory() as folder:
        trainer = CTRTrainer(
            model,
            optimizer_params={"lr": args.lr, "weight_decay": 0.0},
            n_epoch=args.epochs,
            device="cpu",
            model_path=folder,  # fit() saves model.pth here; a temporary folder
        )
        rss_before = current_rss_mb()
        start = time.perf_counter()
        trainer.fit(train_dl)
        seconds = time.perf_counter() - start
        scores = np.asarray(trainer.predict(model, test_dl), dtype=np.float64)
    return {
        "version": metadata.version("torch-rechub"),
        "train_seconds": seconds,
        "rss_before_train_mb": rss_before,
        "scores": scores,
        "model_settings": settings,
    }


# -- DeepCTR-Torch ------------------------------------------------------------------------------
def _no_version_check() -> None:
    """Stop DeepCTR-Torch's import-time PyPI query (a background thread, via ``requests``).

    ``deepctr_torch/__init__.py`` starts a thread that asks PyPI for a newer release; it imports
    ``requests``, which the package does not declare. A stub whose ``get`` raises makes that thread
    give up at once (the library catches the error), so the run makes no network call.
    """
    import types

    stub = types.ModuleType("requests")

    def get(*_args, **_kwargs):
        raise OSError("no network calls during the benchmark")

    stub.get = get
    sys.modules["requests"] = stub


def run_deepctr(args: argparse.Namespace, data: dict) -> dict:
    _no_version_check()
    from deepctr_torch.inputs import SparseFeat, get_feature_names
    from deepctr_torch.models import DCN, DeepFM

    columns = [
        SparseFeat(f, vocabulary_size=data["vocab_sizes"][f], embedding_dim=args.embed_dim)
        for f in data["features"]
    ]
    names = get_feature_names(columns + columns)
    hidden = tuple(args.hidden)
    settings: dict = {"embedding_dim": args.embed_dim, "dnn_hidden_units": list(hidden)}
    if args.model == "deepfm":
        model = DeepFM(columns, columns, dnn_hidden_units=hidden, task="binary", device="cpu")
    elif args.model == "dcn-v2":
        # DCN with matrix parameterisation is DCN-V2 (DCN-M) in this library.
        model = DCN(
            columns,
            columns,
            cross_num=args.cross_layers,
            cross_parameterization="matrix",
            dnn_hidden_units=hidden,
            task="binary",
            device="cpu",
        )
        settings.update(cross_num=args.cross_layers, cross_parameterization="matrix")
    else:
        raise ValueError(f"deepctr-torch runner has no {args.model}")
    model.compile("adam", "binary_crossentropy", metrics=["binary_crossentropy"])
    for group in model.optim.param_groups:
        group["lr"] = args.lr  # "adam" is Adam(lr=1e-3); set it explicitly all the same
    train_x = {n: data["train"][n] for n in names}
    test_x = {n: data["test"][n] for n in names}
    rss_before = current_rss_mb()
    start = time.perf_counter()
    # verbose=0: no progress bar, and no per-batch training metrics (verbose>0 computes them).
    model.fit(
        train_x, data["train_label"], batch_size=args.batch_size, epochs=args.epochs, verbose=0
    )
    seconds = time.perf_counter() - start
    scores = model.predict(test_x, batch_size=8192).ravel()
    return {
        "version": metadata.version("deepctr-torch"),
        "train_seconds": seconds,
        "rss_before_train_mb": rss_before,
        "scores": scores,
        "model_settings": settings,
    }


# -- the floor: the model's dense layers alone ------------------------------------------------------
def run_floor(args: argparse.Namespace, data: dict) -> dict:
    """Time only the dense work every library must do: a ceiling on any library's throughput.

    The model's MLP (and, for DCN-V2, its full-rank cross layers in parallel with the MLP), trained
    with Adam on one fixed random batch of the embedding-layer width (fields x embedding size), for
    as many steps as one epoch has, with the input's gradient computed (a real model sends it on to
    the embeddings). No embedding look-up, FM term, data loading or shuffling: the same fp32 GEMMs
    as in every library's step and nothing else, so no library can train the full model faster on
    this machine. There is no test AUC: it learns nothing.
    """
    from torch import nn

    torch.manual_seed(args.seed)
    width = len(data["features"]) * args.embed_dim
    dims = [width, *args.hidden]
    layers: list[nn.Module] = []
    for d_in, d_out in zip(dims[:-1], dims[1:]):
        layers += [nn.Linear(d_in, d_out), nn.ReLU()]
    mlp = nn.Sequential(*layers)
    cross = nn.ModuleList(nn.Linear(width, width) for _ in range(args.cross_layers))
    use_cross = args.model == "dcn-v2"
    head = nn.Linear(dims[-1] + (width if use_cross else 0), 1)
    params = [*mlp.parameters(), *head.parameters(), *(cross.parameters() if use_cross else [])]
    optimizer = torch.optim.Adam(params, lr=args.lr)
    n_train = len(data["train_label"])
    steps = -(-n_train // args.batch_size) * args.epochs
    x0 = torch.randn(args.batch_size, width, requires_grad=True)
    y = torch.randint(0, 2, (args.batch_size,)).float()
    rss_before = current_rss_mb()
    start = time.perf_counter()
    for _ in range(steps):
        parts = [mlp(x0)]
        if use_cross:  # DCN-V2 cross layer: x_{l+1} = x0 * (W x_l + b) + x_l
            x = x0
            for layer in cross:
                x = x0 * layer(x) + x
            parts.append(x)
        logit = head(torch.cat(parts, dim=1) if use_cross else parts[0]).squeeze(1)
        loss = nn.functional.binary_cross_entropy_with_logits(logit, y)
        optimizer.zero_grad(set_to_none=True)
        x0.grad = None
        loss.backward()
        optimizer.step()
    seconds = time.perf_counter() - start
    return {
        "version": f"torch {torch.__version__}",
        "train_seconds": seconds,
        "rss_before_train_mb": rss_before,
        "scores": None,
        "model_settings": {
            "input_width": width,
            "hidden": list(args.hidden),
            "cross_layers": args.cross_layers if use_cross else 0,
            "steps": steps,
        },
    }


RUNNERS = {
    "recnotes": run_recnotes,
    "torch-rechub": run_rechub,
    "deepctr-torch": run_deepctr,
    "floor": run_floor,
}


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    data = load_arrays(args.npz)
    out = RUNNERS[args.library](args, data)
    n_train = len(data["train_label"])
    row = {
        "library": args.library,
        "version": out["version"],
        "model": args.model,
        "samples_per_s": n_train * args.epochs / out["train_seconds"],
        "peak_mem_mb": peak_rss_mb(),
        "rss_before_train_mb": out["rss_before_train_mb"],
        "test_auc": None if out["scores"] is None else auc(data["test_label"], out["scores"]),
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "embed_dim": args.embed_dim,
        "train_seconds": out["train_seconds"],
        "train_rows": n_train,
        "test_rows": len(data["test_label"]),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "model_settings": out["model_settings"],
    }
    print("PEER_SPEED_ROW " + json.dumps(row), flush=True)
    return row


if __name__ == "__main__":
    main(sys.argv[1:])
