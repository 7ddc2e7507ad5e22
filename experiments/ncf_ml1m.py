"""Reproduce NCF (GMF, MLP, NeuMF) on MovieLens-1M under the NCF protocol (``ncf-loo-99neg``).

Data: :func:`recnotes.data.datasets.load_ncf_movielens_1m`, the 994,169 training positives of the
NCF paper (He et al., WWW 2017) and each user's latest rating as the test item, ranked against the
99 fixed negatives of ``ml-1m.test.negative`` (HR@10 and NDCG@10, tie rule "average"; where the
test item is itself one of its user's 99 negatives, 156 users, that entry is not a candidate).
The NCF files number users and items from 0; recnotes ids start at 1 (0 is padding), so every id
is shifted by one here.

The protocol has no validation split, and the paper reports the test score of the best epoch. We
do not select on test. Each run has two phases:

1. ``select``: each user's latest training rating is held out as the validation item (the test
   item's own rule), ranked against 99 negatives sampled (seeded) from the items outside the user's
   training positives; the Trainer stops early on validation HR@10, which fixes the epoch count.
   Timestamps exist only for users 1-2999, so only they have a validation item. For a
   pre-trained NeuMF the pre-trained start competes too, as "0 epochs".
2. ``final``: the same model is trained again from the same seed on every training positive for
   that many epochs and scored on test. Test is logged after each epoch of this phase, so the
   results file shows what the paper's rule (best test epoch) would have reported; nothing is
   chosen with it.

Training: pointwise log loss with 4 negatives per positive, redrawn every epoch, never a training
positive of the user (:class:`recnotes.losses.SampledNegativeBCE`). ``--batch-size`` counts
training instances (positives and their negatives) as the paper's batch size does; Adam for
models trained from scratch (learning rate 0.002, chosen on validation over {0.001, 0.002} with
NeuMF at 8 factors), plain SGD for a pre-trained NeuMF (paper, Sec. 3.4.1), which starts from the
GMF and MLP checkpoints of the same phase.

    python experiments/ncf_ml1m.py --model neumf --factors 8
    python experiments/ncf_ml1m.py --model gmf --factors 64      # checkpoints/ncf-ml1m/gmf-f64
    python experiments/ncf_ml1m.py --model mlp --factors 64      # checkpoints/ncf-ml1m/ncf-mlp-f64
    python experiments/ncf_ml1m.py --model neumf --factors 64 \\
        --pretrain checkpoints/ncf-ml1m/gmf-f64 checkpoints/ncf-ml1m/ncf-mlp-f64
    python experiments/ncf_ml1m.py --quick --out /tmp/ncf.json   # synthetic smoke run, seconds

The real data is read from ``$RECNOTES_DATA`` (see the data page). Each run writes
``results/ml-1m/<model>-f<factors>[-pretrain].json`` and a checkpoint folder (``--save-dir``,
default ``checkpoints/ncf-ml1m/<model>-f<factors>[-pretrain]``, ignored by git).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from recnotes.data import Feature, FeatureTable, Schema
from recnotes.evaluate import build_seen, sample_negatives, sampled_ranking
from recnotes.losses import SampledNegativeBCE
from recnotes.recall.ncf import GMF, NCFMLP, GMFConfig, NCFMLPConfig, NeuMF, NeuMFConfig
from recnotes.results import RESULTS_DIR, Result, describe_device, git_commit
from recnotes.train import History, TrainConfig, Trainer, load_checkpoint, seed_everything

SCRIPT = "experiments/ncf_ml1m.py"
MODELS = {"gmf": "gmf", "mlp": "ncf-mlp", "neumf": "neumf"}  # --model -> registry name
# He et al. 2017, Table 2: NeuMF with and without pre-training, HR@10 / NDCG@10 on MovieLens.
PAPER = {
    ("neumf", 8, False): {"hr@10": 0.688, "ndcg@10": 0.410},
    ("neumf", 16, False): {"hr@10": 0.696, "ndcg@10": 0.420},
    ("neumf", 32, False): {"hr@10": 0.701, "ndcg@10": 0.425},
    ("neumf", 64, False): {"hr@10": 0.705, "ndcg@10": 0.426},
    ("neumf", 64, True): {"hr@10": 0.730, "ndcg@10": 0.447},
}
NOTES = (
    "Same training positives, test items and 99 fixed test negatives as the paper; the 156 "
    "negatives that equal their user's test item are not candidates (as in NCF's own evaluation). "
    "The paper reports the best test epoch; here the epoch count is chosen on validation (the "
    "latest training rating of users 1-2999, the only ones with timestamps, against 99 sampled "
    "negatives), then the model is retrained on all training positives for that many epochs and "
    "scored on test once (config.final logs test per epoch for comparison, unused). The batch "
    "counts instances (each positive with its 4 negatives). MLP embedding width as in the "
    "authors' code."
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--model", choices=sorted(MODELS), default="neumf")
    p.add_argument("--factors", type=int, default=8, help="predictive factors: 8, 16, 32 or 64")
    p.add_argument(
        "--layers", type=int, default=3, help="hidden layers of the MLP tower (paper: 3)"
    )
    p.add_argument(
        "--pretrain",
        nargs=2,
        type=Path,
        metavar=("GMF_DIR", "MLP_DIR"),
        help="initialise NeuMF from the checkpoint folders of a GMF and an MLP run",
    )
    p.add_argument(
        "--alpha", type=float, default=0.5, help="GMF's weight in the pre-trained output layer"
    )
    p.add_argument("--epochs", type=int, default=20, help="maximum epochs of the selection phase")
    p.add_argument(
        "--fixed-epochs",
        type=int,
        default=None,
        help="skip the selection phase and train this many epochs on every training positive "
        "(the authors' README trains 20)",
    )
    p.add_argument(
        "--patience", type=int, default=3, help="epochs without a better validation HR@10"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=1024,
        help="training instances per step (positives and their negatives); paper: <= 1024",
    )
    p.add_argument(
        "--negatives", type=int, default=4, help="sampled negatives per positive (paper: 4)"
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default: 0.002 with Adam, 0.05 with SGD)",
    )
    p.add_argument(
        "--optimizer",
        choices=("adam", "sgd"),
        default=None,
        help="default: adam from scratch, sgd with --pretrain (paper, Sec. 3.4.1)",
    )
    p.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of weights, batches, negatives and the validation hold-out",
    )
    p.add_argument(
        "--save-dir",
        type=Path,
        default=None,
        help="checkpoint folder (default: checkpoints/ncf-ml1m/<model>-f<factors>[-pretrain])",
    )
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results file (default: results/ml-1m/<model>-f<factors>[-pretrain].json; "
        "with --quick: runs/ncf-quick/<model>.json)",
    )
    p.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch CPU threads (1 is fastest on a shared machine: these models are small)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run on the embedded synthetic data: small model, 2 epochs, seconds",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    if args.pretrain and args.model != "neumf":
        p.error("--pretrain initialises a NeuMF; use it with --model neumf")
    if args.batch_size < 1 + args.negatives:
        p.error(f"--batch-size must hold at least one positive and its {args.negatives} negatives")
    args.optimizer = args.optimizer or ("sgd" if args.pretrain else "adam")
    args.default_lr = 0.05 if args.optimizer == "sgd" else 2e-3
    args.lr = args.lr or args.default_lr
    if args.quick:
        args.factors, args.epochs = min(args.factors, 8), min(args.epochs, 2)
    return args


# -- data --------------------------------------------------------------------------------------------
@dataclass
class Candidates:
    """Users ranked against their candidates: ``users (U,)``, ``targets (U,)`` and ``negatives
    (U, n)`` as recnotes item ids (1-based). A negative of id 0 (padding) is not a candidate."""

    users: torch.Tensor
    targets: torch.Tensor
    negatives: torch.Tensor


@dataclass
class Data:
    schema: Schema
    train: FeatureTable  # the training positives minus the validation items
    full: FeatureTable  # every training positive (the refit trains on it)
    valid: Candidates
    test: Candidates
    num_items: int
    dataset: str
    protocol: str


def _schema(num_users: int, num_items: int) -> Schema:
    return Schema(
        [
            Feature("user_ids", "sparse", vocab_size=num_users + 1),
            Feature("item_ids", "sparse", vocab_size=num_items + 1),
        ]
    )


def _sampled(
    users: np.ndarray,
    train_users: np.ndarray,
    train_items: np.ndarray,
    targets: np.ndarray,
    num_users: int,
    num_items: int,
    seed: int,
) -> torch.Tensor:
    """99 negatives per user from the items outside its training positives (ids 1..N)."""
    full_targets = np.full(num_users, -1, dtype=np.int64)
    full_targets[users - 1] = targets
    seen = build_seen(torch.tensor(train_users - 1), torch.tensor(train_items), num_users)
    negatives = sample_negatives(
        torch.as_tensor(full_targets),
        num_items + 1,
        99,
        seen,
        exclude_items=torch.tensor([0]),
        seed=seed,
    )
    return negatives[torch.as_tensor(users - 1)]


def ml1m_data(seed: int) -> Data:
    """The NCF protocol data, ids shifted to 1-based, with each timestamped user's latest training
    rating held out for validation."""
    from recnotes.data import leave_one_out
    from recnotes.data.datasets import load_movielens_1m, load_ncf_movielens_1m

    ml = load_movielens_1m()
    ncf = load_ncf_movielens_1m(ratings=ml.ratings)
    users = ncf.train["user_id"].to_numpy() + 1  # NCF ids are 0-based; recnotes ids start at 1
    items = ncf.train["item_id"].to_numpy() + 1
    # The test item is each user's latest rating; the validation item is the latest of the rest.
    # Only users 1-2999 have timestamps in the data, so only they get a validation item.
    stamps = ml.ratings.set_index(["user_id", "item_id"])["timestamp"]
    pairs = pd.MultiIndex.from_arrays([users, ncf.movie_ids[items - 1]])
    frame = pd.DataFrame({"user_id": users, "timestamp": stamps.reindex(pairs).to_numpy()})
    timed = frame[frame["timestamp"].notna()].astype({"timestamp": "int64"})
    held = np.zeros(len(frame), dtype=bool)
    held[leave_one_out(timed, order_col="timestamp").test.index.to_numpy()] = True

    schema = _schema(ncf.num_users, ncf.num_items)
    train = FeatureTable({"user_ids": users[~held], "item_ids": items[~held]}, schema)
    negatives = _sampled(
        users[held], users[~held], items[~held], items[held], ncf.num_users, ncf.num_items, seed
    )
    valid = Candidates(torch.tensor(users[held]), torch.tensor(items[held]), negatives)
    test_negatives = np.where(ncf.target_in_negatives, -1, ncf.negatives) + 1  # duplicates -> 0
    test = Candidates(
        torch.tensor(ncf.test["user_id"].to_numpy() + 1),
        torch.tensor(ncf.test["item_id"].to_numpy() + 1),
        torch.tensor(test_negatives),
    )
    full = FeatureTable({"user_ids": users, "item_ids": items}, schema)
    return Data(schema, train, full, valid, test, ncf.num_items, "ml-1m", "ncf-loo-99neg")


def synthetic_data(seed: int) -> Data:
    """The --quick stand-in: synthetic clicks, leave-one-out by time, 99 sampled negatives."""
    from recnotes.data import SyntheticConfig, leave_one_out, make_synthetic

    data = make_synthetic(SyntheticConfig(num_users=300, num_items=200), seed=seed)
    split = leave_one_out(data.interactions(), valid=True)
    seen = pd.concat([split.train, split.valid])  # every training positive
    schema = _schema(data.num_users, data.num_items)

    def table(part: pd.DataFrame) -> FeatureTable:
        columns = {"user_ids": part["user_id"].to_numpy(), "item_ids": part["item_id"].to_numpy()}
        return FeatureTable(columns, schema)

    def candidates(part: pd.DataFrame, known: pd.DataFrame) -> Candidates:
        u, i = part["user_id"].to_numpy(), part["item_id"].to_numpy()
        k_u, k_i = known["user_id"].to_numpy(), known["item_id"].to_numpy()
        neg = _sampled(u, k_u, k_i, i, data.num_users, data.num_items, seed)
        return Candidates(torch.tensor(u), torch.tensor(i), neg)

    return Data(
        schema,
        table(split.train),
        table(seen),
        candidates(split.valid, split.train),
        candidates(split.test, seen),
        data.num_items,
        "synthetic",
        "synthetic-loo-99neg",
    )


# -- model and evaluation ------------------------------------------------------------------------
def evaluate(model: torch.nn.Module, cands: Candidates) -> dict[str, float]:
    """HR@10 and NDCG@10 of each target against its negatives (a padding id 0 is not a candidate)."""

    def score_fn(rows: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        scores = model.score(cands.users[rows], candidates)
        return scores.masked_fill(candidates == 0, float("-inf"))  # never ranks above the target

    was = model.training
    model.eval()
    with torch.no_grad():
        out = sampled_ranking(
            score_fn, cands.targets, cands.negatives, ks=(10,), metrics=("hr", "ndcg")
        )
    model.train(was)
    return {"hr@10": out["hr@10"], "ndcg@10": out["ndcg@10"]}


def _load_trained(cls: type, config_cls: type, folder: Path, schema: Schema) -> torch.nn.Module:
    if not (folder / "config.json").exists():
        raise SystemExit(f"{folder} is not a checkpoint folder of this script (no config.json)")
    meta = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    if not meta.get("model_class", "").endswith(cls.__name__):
        raise SystemExit(f"{folder} holds a {meta.get('model_class')}, expected a {cls.__name__}")
    model = cls(schema, config_cls(**meta["model_config"]))
    return load_checkpoint(model, folder, "best")


def build_model(args: argparse.Namespace, schema: Schema, phase: str) -> torch.nn.Module:
    """A fresh model, or for --pretrain a NeuMF from the GMF and MLP of the same phase."""
    if args.pretrain:
        gmf = _load_trained(GMF, GMFConfig, args.pretrain[0] / phase, schema)
        mlp = _load_trained(NCFMLP, NCFMLPConfig, args.pretrain[1] / phase, schema)
        if gmf.config.factors != args.factors or mlp.config.factors != args.factors:
            raise SystemExit(
                f"the pre-trained models have {gmf.config.factors} and "
                f"{mlp.config.factors} factors, not --factors {args.factors}"
            )
        return NeuMF.from_pretrained(gmf, mlp, alpha=args.alpha)
    if args.model == "gmf":
        return GMF(schema, GMFConfig(factors=args.factors))
    if args.model == "mlp":
        return NCFMLP(schema, NCFMLPConfig(factors=args.factors, num_layers=args.layers))
    return NeuMF(schema, NeuMFConfig(factors=args.factors, num_layers=args.layers))


def train(
    args: argparse.Namespace,
    data: Data,
    phase: str,
    table: FeatureTable,
    watch: Candidates,
    epochs: int,
    save_dir: Path,
) -> tuple[torch.nn.Module, History, dict[str, float] | None]:
    """One training run. ``select``: early stopping on the validation items (best epoch restored);
    ``final``: exactly ``epochs`` epochs on every training positive, test logged each epoch.
    Returns the model, its history and, for a pre-trained NeuMF, the metrics of its start."""
    seed_everything(args.seed)
    model = build_model(args, data.schema, phase)
    label = "valid" if phase == "select" else "test (logged, not used to choose anything)"
    start = evaluate(model, watch) if args.pretrain else None
    if start is not None:
        print(f"  [{phase}] pre-trained start: {label} {start}", flush=True)
    if epochs == 0:  # validation preferred the pre-trained start to any epoch of training
        return model, History(), start
    config = TrainConfig(
        epochs=epochs,
        batch_size=max(1, args.batch_size // (1 + args.negatives)),
        lr=args.lr,
        optimizer=args.optimizer,
        monitor="hr@10" if phase == "select" else None,
        patience=args.patience,
        seed=args.seed,
        device="cpu",
        checkpoint_dir=str(save_dir / phase),
        progress=not args.quiet,
    )
    loss_fn = SampledNegativeBCE(data.num_items, args.negatives, seen=table, seed=args.seed)
    count = iter(range(1, epochs + 1))

    def log(m: torch.nn.Module) -> dict[str, float]:
        metrics = evaluate(m, watch)
        if args.quiet:  # the Trainer prints its epoch lines only with progress bars
            print(
                f"  [{phase}] epoch {next(count)}: {label} hr@10={metrics['hr@10']:.4f} "
                f"ndcg@10={metrics['ndcg@10']:.4f}",
                flush=True,
            )
        return metrics

    history = Trainer(model, config, loss_fn=loss_fn, validate_fn=log).fit(table)
    return model, history, start


def main(argv: list[str] | None = None) -> Result:
    args = parse_args(argv)
    start, commit = time.perf_counter(), git_commit()  # the code as it was when training started
    torch.set_num_threads(args.threads)
    name = MODELS[args.model]
    variant = f"f{args.factors}" + ("-pretrain" if args.pretrain else "")
    variant += f"-e{args.fixed_epochs}" if args.fixed_epochs else ""
    save_dir = args.save_dir or Path("checkpoints/ncf-ml1m") / f"{name}-{variant}"
    print(f"{name} ({variant}): loading data ...", flush=True)
    data = synthetic_data(args.seed) if args.quick else ml1m_data(args.seed)
    print(
        f"  {len(data.full):,} training positives ({len(data.valid.users):,} held out for "
        f"validation), {len(data.test.users):,} test users, {data.num_items:,} items",
        flush=True,
    )

    # 1. choose the number of epochs on the validation items (never on test), unless it is fixed
    chosen, best_valid, valid_start = History(), None, None
    epochs = args.fixed_epochs
    if not args.fixed_epochs:
        _, chosen, valid_start = train(
            args, data, "select", data.train, data.valid, args.epochs, save_dir
        )
        epochs = chosen.best_epoch + 1
        best_valid = {k: chosen.epochs[chosen.best_epoch][k] for k in ("hr@10", "ndcg@10")}
        if valid_start is not None and valid_start["hr@10"] >= best_valid["hr@10"]:
            epochs, best_valid = 0, valid_start  # a pre-trained start can be the best "epoch"
        print(f"chosen: {epochs} epochs (valid hr@10={best_valid['hr@10']:.4f})", flush=True)
    # 2. retrain on every training positive for that many epochs, then score test once
    model, final, test_start = train(args, data, "final", data.full, data.test, epochs, save_dir)
    metrics = evaluate(model, data.test)
    print(f"test hr@10={metrics['hr@10']:.4f} ndcg@10={metrics['ndcg@10']:.4f}", flush=True)

    epoch_time = float(np.mean([e["epoch_time_s"] for e in chosen.epochs + final.epochs]))
    paper = {} if args.quick else PAPER.get((args.model, args.factors, bool(args.pretrain)), {})
    # the results table has no column for the variant, so the source says which row is which
    ours = f"{args.factors} factors" + (f", {epochs} fixed epochs" if args.fixed_epochs else "")
    ours += f", lr {args.lr:g}" if args.lr != args.default_lr else ""
    if paper:
        table = "with" if args.pretrain else "without"
        source = f"He et al. 2017, Table 2, NeuMF {table} pre-training ({ours})"
    else:
        source = "" if args.quick else f"no number in the paper, Fig. 4 plots it ({ours})"
    rounded = lambda h: [{k: round(v, 4) for k, v in e.items()} for e in h.epochs]  # noqa: E731
    result = Result(
        model=name,
        dataset=data.dataset,
        protocol=data.protocol,
        metrics=metrics,
        command=shlex.join(["python", SCRIPT, *(sys.argv[1:] if argv is None else argv)]),
        commit=commit,
        device=describe_device("cpu") + f", {args.threads} torch thread(s)",
        wall_time_s=round(time.perf_counter() - start, 1),
        paper=paper,
        source=source,
        seeds=[args.seed],
        config={
            "model": asdict(model.config),
            "train": {
                "optimizer": args.optimizer,
                "lr": args.lr,
                "batch_instances": max(1, args.batch_size // (1 + args.negatives))
                * (1 + args.negatives),
                "negatives": args.negatives,
                "max_epochs": args.epochs,
                "patience": args.patience,
            },
            "pretrain": [str(p) for p in args.pretrain] if args.pretrain else None,
            "alpha": args.alpha if args.pretrain else None,
            "epochs": epochs,
            "train_instances_per_s": round(len(data.full) * (1 + args.negatives) / epoch_time),
            "selection": {"valid_best": best_valid, "history": rounded(chosen)}
            if not args.fixed_epochs
            else f"none: {epochs} epochs fixed in advance",
            "final": {"history_with_test_logged": rounded(final)},
            "pretrained_start": {"valid": valid_start, "test_logged": test_start}
            if args.pretrain
            else None,
        },
        notes=NOTES if not args.quick else "smoke run on synthetic data",
    )
    out = args.out or (
        Path("runs/ncf-quick") / f"{name}.json"
        if args.quick
        else RESULTS_DIR / data.dataset / f"{name}-{variant}.json"
    )
    print(f"wrote {result.save(out)}", flush=True)
    return result


if __name__ == "__main__":
    main()
