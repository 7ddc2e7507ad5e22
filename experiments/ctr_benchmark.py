"""Benchmark the registered CTR models on Frappe (BARS Frappe_x1) or MovieLens-1M CTR (DCN-V2 paper).

One script drives every ranking model in the registry. For each model and seed it builds the task's
tables (:mod:`recnotes.tasks`), builds the model from the per-dataset settings table below (the
reference protocol's tuned settings where they were found, source-commented), trains it with the
Trainer (early stopping on the protocol's validation quantity, best epoch restored) and scores the test split once.
Each model gets one results file, ``results/<dataset>/<model>[-<variant>].json``: the mean and
standard deviation over the seeds, the per-seed values, the parameter count, the training time per
epoch, the reference number with its source, and the command that re-runs it.

Protocols:

* ``--dataset frappe``: ``frappe-nfm-x1-rebuilt`` (the NFM/AFM validation and test files, train
  rebuilt from the remaining positives with two sampled negatives each). Training follows BARS /
  FuxiCTR v1.1 for Frappe_x1: embedding 10, batch 4096, Adam with lr 1e-3, validation AUC after
  every epoch (``"monitor": "AUC"`` in the logged runs of LR, FM, FFM, AFM, Wide&Deep, IPNN and DeepFM),
  learning rate x0.1 when it does not improve, stop after ``patience`` such epochs, gradient norm
  clipped at 10, and the per-model tuned embedding / network L2 penalties (see `FRAPPE`). A results
  file records the monitor it was trained with (``config.train.monitor``); files from before the
  switch used AUC - LogLoss.
* ``--dataset frappe-instance-cut``: a diagnostic of the Frappe protocol, everything as ``frappe`` but
  the train split mimics the original file's 70/20/10 cut over all instances
  (``frappe-nfm-x1-rebuilt-instance-cut``: 202,027 rows, 67,604 positive, as the original). Its
  results files get the suffix ``-instance-cut`` unless ``--variant`` is given.
* ``--dataset ml-1m-ctr``: ``ctr-random-80-10-10`` (DCN-V2 paper, Table 6): embedding 30, batch 128,
  Adam; as in ``experiments/embedding_mlp_ml1m.py``: lr 1e-3, at most 10 epochs, patience 1.
* ``--loss square``: the NFM and AFM papers' objective on Frappe, squared error against +1/-1
  targets; the test metric is RMSE of the predictions clipped to [-1, 1] (as the NFM code does).
* ``--save-states DIR`` / ``--init-from PATTERN``: the AFM authors' recipe starts AFM from a trained
  FM (their ``--pretrain 1``). The first run saves each seed's best model to
  ``DIR/<model>[-<variant>]-seed<seed>.pt``; the second loads, for the same seed, every parameter
  of the first-order weights (``linear.*``) and the field vectors (``vectors.*``) from
  ``PATTERN.format(seed=...)``. Each seed's train split is drawn from that seed alone, so the
  warm start sees no validation or test rows.

    python experiments/ctr_benchmark.py --model embedding-mlp --dataset frappe --seeds 0 1 2
    python experiments/ctr_benchmark.py --model fm deepfm --dataset frappe --set embed_dim=16
    python experiments/ctr_benchmark.py --model nfm --loss square --set embed_dim=256
    python experiments/ctr_benchmark.py --model lr fm --quick --out /tmp/bench   # synthetic smoke run

The AFM paper's square-loss RMSE, with the authors' recipe (FM warm start, Adagrad):

    python experiments/ctr_benchmark.py --model fm --dataset frappe --loss square --optimizer adagrad \
        --lr 0.01 --epochs 30 --seeds 0 1 2 --save-states runs/fm-square
    python experiments/ctr_benchmark.py --model afm --dataset frappe --loss square --optimizer adagrad \
        --lr 0.1 --epochs 30 --threads 2 --set attention_l2=4.8828125e-4 \
        --init-from 'runs/fm-square/fm-square-seed{seed}.pt' --variant square-fm-init --seeds 0

``attention_l2=4.8828125e-4`` is the authors' lambda = 2 moved onto our loss: their penalty
``2 * ||W||^2 / 2`` sits beside a squared error summed over the batch and halved; ours beside the
mean squared error, so lambda becomes ``2 / 4096``.

The real data is read from ``$RECNOTES_DATA`` (see the data page).
"""

from __future__ import annotations

import argparse
import ast
import shlex
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from recnotes import registry
from recnotes.evaluate import evaluate_ctr
from recnotes.results import RESULTS_DIR, Result, describe_device, git_commit
from recnotes.train import TrainConfig, Trainer, reuse_freed_memory, seed_everything

SCRIPT = "experiments/ctr_benchmark.py"


@dataclass(frozen=True)
class Setting:
    """One model's settings under one protocol.

    Attributes:
        config: model config fields (common names: ``embed_dim``, ``hidden``, ``dropout``,
            ``batch_norm``; a field the model does not have is reported and skipped).
        embedding_l2: ``lambda`` of the penalty ``lambda / 2 * ||W||^2`` on every embedding table.
        net_l2: the same penalty on every other parameter.
        patience: early-stopping patience, when it differs from the protocol's.
        monitor: validation quantity of early stopping and the learning-rate plateau, when it
            differs from the protocol's (``"auc"`` or ``"auc-logloss"``).
        epochs: epoch limit, when it differs from the protocol's.
        reference: the published test metrics this run compares with (``{}``: none).
        source: where ``reference`` and the settings come from.
    """

    config: Mapping[str, Any] = field(default_factory=dict)
    embedding_l2: float = 0.0
    net_l2: float = 0.0
    patience: int | None = None
    epochs: int | None = None
    monitor: str | None = None
    reference: Mapping[str, float] = field(default_factory=dict)
    source: str = ""


@dataclass(frozen=True)
class Protocol:
    """A dataset's training protocol and its per-model settings."""

    task: str  # recnotes.tasks name
    results_dir: str  # results/<results_dir>/ and the results file's dataset field
    embed_dim: int
    batch_size: int
    lr: float
    epochs: int
    patience: int
    plateau_factor: float  # learning rate x factor after an epoch without a better monitor; 1: off
    monitor: str  # validation quantity of early stopping: "auc" or "auc-logloss" (AUC - LogLoss)
    grad_clip: float | None
    settings: Mapping[str, Setting]
    default_source: str  # for a model without a settings row
    notes: str
    variant: str = ""  # results file suffix when --variant is not given (a diagnostic protocol's)


# -- Frappe: BARS Frappe_x1 ------------------------------------------------------------------------
# Settings are the tuned ones of each model's BARS page, reczoo/BARS ranking/ctr/<Model>/
# <Model>_frappe_x1/README.md (the logged config of the best run, FuxiCTR v1.1.0). BARS's
# "net_dropout" is `dropout`, "hidden_units" is `hidden`, "regularizer" (LR, FM, FFM) is one lambda
# for both penalties. Reference numbers: test AUC / LogLoss on those pages (mean of 5 runs where the
# page gives 5; else the one run).
_BARS = "BARS Frappe_x1, reczoo/BARS ranking/ctr/{}/README.md"
_DNN3 = (400, 400, 400)
FRAPPE: dict[str, Setting] = {
    "lr": Setting(  # LR_frappe_x1_001_ff730f43: regularizer 1e-5
        embedding_l2=1e-5,
        net_l2=1e-5,
        epochs=100,
        reference={"auc": 0.9356, "logloss": 0.3076},
        source=_BARS.format("LR/LR_frappe_x1"),
    ),
    "fm": Setting(  # FM_frappe_x1_001_b16e1650: regularizer 5e-6
        embedding_l2=5e-6,
        net_l2=5e-6,
        epochs=100,
        reference={"auc": 0.9671, "logloss": 0.2065},
        source=_BARS.format("FM/FM_frappe_x1"),
    ),
    "ffm": Setting(  # FFM_frappe_x1_007_1e29f4c0: regularizer 1e-6
        embedding_l2=1e-6,
        net_l2=1e-6,
        epochs=100,
        reference={"auc": 0.9786, "logloss": 0.1860},
        source=_BARS.format("FFM/FFM_frappe_x1"),
    ),
    "nfm": Setting(  # NFM_frappe_x1_012_3ebff53c: FuxiCTR's NFM has no dropout on the Bi-Interaction
        config={"hidden": _DNN3, "dropout": 0.4, "batch_norm": False, "bi_dropout": 0.0},
        embedding_l2=1e-4,
        epochs=200,
        reference={"auc": 0.9804, "logloss": 0.2058},
        source=_BARS.format("NFM/NFM_frappe_x1"),
    ),
    "afm": Setting(  # AFM_frappe_x1_011_2d591f68: attention 128, dropout 0.1 on both AFM dropouts
        # FuxiCTR's initialisation (embeddings N(0, 1e-4^2), Xavier-normal W, h, p, b = 0): with the
        # authors' (h ~ N(0, 1), p = 1) and T = 128, training stalls near validation AUC 0.95
        config={
            "attention_dim": 128,
            "attention_dropout": 0.1,
            "dropout": 0.1,
            "init": "xavier",
            "init_std": 1e-4,
        },
        embedding_l2=1e-5,
        reference={"auc": 0.9697, "logloss": 0.2264},
        source=_BARS.format("AFM/AFM_frappe_x1"),
    ),
    "deepfm": Setting(  # DeepFM_frappe_x1_001_4ae3a56e
        config={"hidden": _DNN3, "dropout": 0.2, "batch_norm": True},
        embedding_l2=0.05,
        reference={"auc": 0.9839, "logloss": 0.1495},
        source=_BARS.format("DeepFM/DeepFM_frappe_x1"),
    ),
    "wide-deep": Setting(  # WideDeep_frappe_x1_030_af559975
        config={"hidden": _DNN3, "dropout": 0.6, "batch_norm": True},
        embedding_l2=0.1,
        reference={"auc": 0.9831, "logloss": 0.1540},
        source=_BARS.format("WideDeep/WideDeep_frappe_x1"),
    ),
    "pnn": Setting(  # IPNN: PNN_frappe_x1_020_f63bc10d, patience 3
        # FuxiCTR's initialisation (Xavier-normal MLP, embeddings N(0, 1e-4^2)): with PyTorch's
        # default MLP init and the 0.05 embedding penalty, IPNN sits on the popularity plateau
        # (validation AUC ~0.936) until epoch 8-10, where FuxiCTR's own IPNN leaves it by epoch 6
        config={
            "product": "inner",
            "hidden": _DNN3,
            "dropout": 0.3,
            "batch_norm": False,
            "init": "xavier",
            "init_std": 1e-4,
        },
        embedding_l2=0.05,
        patience=3,
        reference={"auc": 0.9841, "logloss": 0.1540},
        source=_BARS.format("PNN/IPNN_frappe_x1"),
    ),
    "dcn": Setting(  # DCN_frappe_x1_013_efa58c31: 3 cross layers
        config={"num_cross_layers": 3, "hidden": _DNN3, "dropout": 0.2, "batch_norm": True},
        embedding_l2=0.05,
        reference={"auc": 0.9834, "logloss": 0.1507},
        source=_BARS.format("DCN/DCN_frappe_x1"),
    ),
    "dcn-v2": Setting(  # DCNv2_frappe_x1_007_c207b717: parallel, 4 full-rank cross layers
        config={
            "structure": "parallel",
            "num_cross_layers": 4,
            "hidden": _DNN3,
            "dropout": 0.4,
            "batch_norm": True,
        },
        embedding_l2=0.05,
        reference={"auc": 0.9838, "logloss": 0.1520},
        source=_BARS.format("DCNv2/DCNv2_frappe_x1"),
    ),
    # deep-crossing: BARS has DeepCrossing pages for Criteo, Avazu and KKBox only (none found for
    # Frappe_x1): the model's defaults with embedding 10, no reference number.
    # embedding-mlp: not among the BARS models cited here; the DNN settings shared by the models above.
    "embedding-mlp": Setting(config={"hidden": _DNN3}),
    "deep-crossing": Setting(),
}

# The square-loss variant reproduces the NFM / AFM papers' Frappe RMSE (256 factors, Table 3 of AFM
# and Table 4 of NFM as cited in REFERENCE.md). Only the targets and factors are set here.
FRAPPE_SQUARE: dict[str, Setting] = {
    "nfm": Setting(
        config={"embed_dim": 256},
        reference={"rmse": 0.3095},
        source="He & Chua 2017 (NFM), Frappe test RMSE, 256 factors",
    ),
    "afm": Setting(
        config={"embed_dim": 256},
        reference={"rmse": 0.3102},
        source="Xiao et al. 2017 (AFM), Frappe test RMSE, 256 factors",
    ),
    "fm": Setting(
        config={"embed_dim": 256},
        reference={"rmse": 0.3385},
        source="He & Chua 2017 (NFM), LibFM row, Frappe test RMSE, 256 factors",
    ),
    "wide-deep": Setting(
        config={"embed_dim": 256},
        reference={"rmse": 0.3246},
        source="He & Chua 2017 (NFM), Wide&Deep row, Frappe test RMSE",
    ),
    "deep-crossing": Setting(
        config={"embed_dim": 256},
        reference={"rmse": 0.3548},
        source="He & Chua 2017 (NFM), DeepCross row, Frappe test RMSE",
    ),
}

# -- MovieLens-1M CTR: DCN-V2 paper, Table 6 -------------------------------------------------------
_DCNV2_T6 = "Wang et al. 2021 (DCN-V2), Table 6, {} row (mean of 5 runs)"
ML1M: dict[str, Setting] = {
    "embedding-mlp": Setting(
        config={"hidden": _DNN3},
        reference={"auc": 0.8929, "logloss": 0.3201},
        source=_DCNV2_T6.format("DNN"),
    ),
    "deepfm": Setting(
        config={"hidden": _DNN3},
        reference={"auc": 0.8932, "logloss": 0.3202},
        source=_DCNV2_T6.format("DeepFM"),
    ),
    "dcn": Setting(
        config={"hidden": _DNN3},
        reference={"auc": 0.8935, "logloss": 0.3197},
        source=_DCNV2_T6.format("DCN"),
    ),
    "pnn": Setting(
        config={"hidden": _DNN3, "product": "inner"},
        reference={"auc": 0.8955, "logloss": 0.3182},
        source=_DCNV2_T6.format("PNN"),
    ),
    "dcn-v2": Setting(
        config={"hidden": _DNN3},
        reference={"auc": 0.8950, "logloss": 0.3170},
        source=_DCNV2_T6.format("DCN-V2"),
    ),
}

PROTOCOLS: dict[str, Protocol] = {
    "frappe": Protocol(
        task="frappe",
        results_dir="frappe",
        embed_dim=10,
        batch_size=4096,
        lr=1e-3,
        epochs=100,
        patience=2,
        plateau_factor=0.1,
        monitor="auc",  # the BARS logs: "monitor": "AUC", "monitor_mode": "max"
        grad_clip=10.0,
        settings=FRAPPE,
        default_source="BARS Frappe_x1 training protocol; no tuned settings or number for this model",
        notes=(
            "BARS Frappe_x1 design on the NFM validation and test files, but the train split is "
            "rebuilt (the original train file is not available): same positives, our own two "
            "uniform negatives per positive from never-used items, redrawn per seed. Training as "
            "FuxiCTR v1.1: Adam, lr x0.1 on a validation plateau, stop after `patience` such "
            "epochs, best epoch restored, gradient norm clipped at 10. Embedding L2 as FuxiCTR "
            "applies it: lambda/2 * ||W||^2 over every embedding table (first-order weights "
            "included) added to each batch's loss. Our initialisation is each model's own, not "
            "FuxiCTR's (normal std 1e-4 embeddings, Xavier-normal linear layers)."
        ),
    ),
    "ml-1m-ctr": Protocol(
        task="ml-1m-ctr",
        results_dir="ml-1m",
        embed_dim=30,
        batch_size=128,
        lr=1e-3,
        epochs=10,
        patience=1,
        plateau_factor=1.0,
        monitor="auc",  # as experiments/embedding_mlp_ml1m.py
        grad_clip=None,
        settings=ML1M,
        default_source="DCN-V2 paper protocol; the paper has no row for this model",
        notes=(
            "Same labels, features and random 80/10/10 split rule as the DCN-V2 paper, with our own "
            "split draws per seed (the paper averages 5 runs). Embedding 30, batch 128, Adam as in "
            "the paper; the paper's per-model widths and learning rates are not given, so: hidden "
            "400-400-400, lr 1e-3, best validation-AUC epoch kept (as experiments/"
            "embedding_mlp_ml1m.py). No regularisation or weight averaging."
        ),
    ),
}

# A diagnostic, not the protocol: Frappe_x1 training on a train split that mimics the original
# file's 70/20/10 cut over all instances (recnotes.data.datasets.rebuild_frappe_train).
PROTOCOLS["frappe-instance-cut"] = replace(
    PROTOCOLS["frappe"],
    task="frappe-instance-cut",
    notes=(
        "Diagnostic of the Frappe_x1 protocol: training and settings as `frappe`, but the train "
        "split mimics the original file's 70/20/10 cut over all 288,609 instances instead of "
        "keeping every train positive with both its negatives. Every logged positive (train, "
        "validation and test) gets two negatives by the same rule, and train keeps its 67,604 "
        "positives plus a random 134,423 of those negatives, the counts of the original train "
        "file; about 70% of the negatives of a validation or test positive land in train, as "
        "in the original. Redrawn per seed."
    ),
    variant="instance-cut",
)


# -- training ------------------------------------------------------------------------------------
def split_parameters(model: nn.Module) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """``(embedding tables, other parameters)``: the two groups the L2 penalties act on."""
    tables = [m.weight for m in model.modules() if isinstance(m, (nn.Embedding, nn.EmbeddingBag))]
    ids = {id(t) for t in tables}
    return tables, [p for p in model.parameters() if id(p) not in ids]


def l2_penalty(params: list[torch.Tensor], lam: float) -> torch.Tensor | float:
    """``lam / 2 * sum ||p||^2`` (FuxiCTR's regularizer with p = 2), or 0 when ``lam`` is 0."""
    if lam == 0 or not params:
        return 0.0
    return 0.5 * lam * sum(p.pow(2).sum() for p in params)


def make_loss(
    model: nn.Module, label: str, loss: str, embedding_l2: float = 0.0, net_l2: float = 0.0
) -> Callable[[nn.Module, Mapping[str, torch.Tensor]], torch.Tensor]:
    """A Trainer ``loss_fn``: BCE on logits (or squared error on +1/-1 targets) plus the penalties.

    The embedding penalty covers whole tables, not only the rows of the batch, because that is
    what BARS's numbers were trained with (FuxiCTR v1.1 ``BaseModel.add_regularization``). A model
    with its own ``regularization()`` (AFM's attention L2) has it added too.
    """
    tables, others = split_parameters(model)
    own = getattr(model, "regularization", None)

    def loss_fn(m: nn.Module, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        out = m(batch).float()
        y = batch[label].float()
        if loss == "square":
            data = F.mse_loss(out, 2 * y - 1)
        else:
            data = F.binary_cross_entropy_with_logits(out, y)
        total = data + l2_penalty(tables, embedding_l2) + l2_penalty(others, net_l2)
        return total + own() if own is not None else total

    return loss_fn


WARM_START_PREFIXES = ("linear.", "vectors.")


def warm_start(model: nn.Module, path: Path, prefixes: tuple[str, ...] = WARM_START_PREFIXES) -> list[str]:
    """Copy the parameters under ``prefixes`` from a saved state dict into ``model``.

    Returns the names copied. Raises ``SystemExit`` with the reason when the file is missing, when
    nothing matches, or when a matching name has another shape (a model trained with another
    embedding size), so a warm start never silently becomes a cold one.
    """
    if not path.is_file():
        raise SystemExit(f"--init-from: no saved state at {path} (run with --save-states first)")
    saved = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    names = [k for k in saved if k.startswith(prefixes) and k in own]
    if not names:
        raise SystemExit(
            f"--init-from: {path} has no parameter under {prefixes} that the model has; "
            f"saved: {sorted(saved)[:8]}, model: {sorted(own)[:8]}"
        )
    wrong = [f"{k}: saved {tuple(saved[k].shape)}, model {tuple(own[k].shape)}"
             for k in names if saved[k].shape != own[k].shape]  # fmt: skip
    if wrong:
        raise SystemExit(f"--init-from: shapes differ in {path}: {wrong}")
    model.load_state_dict({k: saved[k] for k in names}, strict=False)
    return names


def scores(model: nn.Module, table, batch_size: int = 65_536) -> torch.Tensor:
    """Outputs for every row of a table, in eval mode."""
    model.eval()
    with torch.no_grad():
        return torch.cat(
            [model(table[i : i + batch_size]).float() for i in range(0, len(table), batch_size)]
        )


def metrics_of(out: torch.Tensor, labels: torch.Tensor, loss: str, groups=None) -> dict[str, float]:
    """AUC, LogLoss (and GAUC) of logits; for the square loss, RMSE of clipped outputs and AUC."""
    if loss == "square":
        y = 2 * labels.float() - 1
        rmse = float(torch.sqrt(((out.clamp(-1, 1) - y) ** 2).mean()))
        r = evaluate_ctr(out, labels)  # AUC only depends on the order of the outputs
        return {"rmse": rmse, "auc": float(r["auc"])}
    r = evaluate_ctr(out, labels, groups)
    keep = ("auc", "logloss", "gauc") if groups is not None else ("auc", "logloss")
    return {k: float(r[k]) for k in keep}


def build_config(
    spec, setting: Setting, protocol: Protocol, overrides: Mapping[str, Any], quick: bool
):
    """The model config: protocol embedding size, the setting row, then ``--set`` overrides.

    Returns ``(config, skipped)`` where ``skipped`` lists setting keys the model has no field for.
    """
    known = {f.name for f in fields(spec.config_cls)}
    wanted: dict[str, Any] = {"embed_dim": protocol.embed_dim, "check_inputs": False}
    wanted.update(setting.config)
    skipped = sorted(k for k in wanted if k not in known and k != "check_inputs")
    if quick:  # tiny widths for a smoke run, only where the model has them
        wanted.update({k: v for k, v in (("embed_dim", 8), ("hidden", (16,))) if k in known})
    cfg = {k: v for k, v in wanted.items() if k in known}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SystemExit(
            f"{spec.display_name} has no config field(s) {unknown}; fields: {sorted(known)}"
        )
    cfg.update(overrides)
    return spec.config_cls(**cfg), skipped


def run_seed(spec, args, protocol: Protocol, setting: Setting, seed: int, overrides) -> dict:
    from recnotes.tasks import get_task

    start = time.perf_counter()
    task = "synthetic" if args.quick else protocol.task
    data = get_task(task).build(seed)
    train = (
        data.train.subset(torch.arange(min(len(data.train), 20_000))) if args.quick else data.train
    )
    config, skipped = build_config(spec, setting, protocol, overrides, args.quick)
    seed_everything(seed)
    model = spec.cls(data.schema, config)
    warm = []
    if args.init_from:
        source = Path(args.init_from.format(seed=seed))
        warm = warm_start(model, source)
        print(f"  warm start from {source}: {len(warm)} tensors", flush=True)
    monitor, mode = (
        ("rmse", "min") if args.loss == "square" else (setting.monitor or protocol.monitor, "max")
    )
    train_config = TrainConfig(
        epochs=args.epochs or setting.epochs or protocol.epochs,
        batch_size=args.batch_size or protocol.batch_size,
        lr=args.lr or protocol.lr,
        optimizer=args.optimizer,
        monitor=monitor,
        mode=mode,
        patience=args.patience or setting.patience or protocol.patience,
        seed=seed,
        device="cpu",
        label=data.label,
        progress=not args.quiet,
        grad_clip=protocol.grad_clip,
    )
    trainer_box: list[Trainer] = []
    best: list[float] = []
    plateau = plateau_factor(args, protocol)
    cuts: list[int] = []  # epochs (1-based) after which the learning rate was cut

    def validate(m: nn.Module) -> dict[str, float]:
        out = metrics_of(scores(m, data.valid), data.valid.columns[data.label], args.loss)
        if "auc" in out and "logloss" in out:
            out["auc-logloss"] = out["auc"] - out["logloss"]
        value = out[monitor] if mode == "max" else -out[monitor]
        if best and value < best[0] + 1e-6 and plateau != 1.0:
            for group in trainer_box[0].optimizer.param_groups:  # FuxiCTR: reduce lr on plateau
                group["lr"] = max(group["lr"] * plateau, 1e-6)
            cuts.append(len(trainer_box[0].history.epochs) + 1)  # this epoch is not yet recorded
        if not best or value > best[0]:
            best[:] = [value]
        return out

    loss_fn = make_loss(model, data.label, args.loss, embedding_l2(args, setting), setting.net_l2)
    trainer = Trainer(model, train_config, loss_fn=loss_fn, validate_fn=validate)
    trainer_box.append(trainer)
    history = trainer.fit(train)
    groups = data.test.columns.get(data.group)
    test = metrics_of(scores(model, data.test), data.test.columns[data.label], args.loss, groups)
    if args.save_states:
        stem = _stem(spec.name, args)
        state_path = Path(args.save_states) / f"{stem}-seed{seed}.pt"
        state_path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(model.state_dict(), state_path)  # the best epoch: the Trainer restored it
        print(f"  saved {state_path}", flush=True)
    epoch_times = [e["epoch_time_s"] for e in history.epochs]
    result = {
        "seed": seed,
        **test,
        f"valid_{monitor}": history.epochs[history.best_epoch][monitor],
        "best_epoch": history.best_epoch + 1,
        "epochs_run": len(history.epochs),
        "lr_cut_epochs": cuts,
        "epoch_time_s": round(statistics.fmean(epoch_times), 3),
        "curve": [
            {k: round(v, 5) for k, v in e.items() if k in ("train_loss", "auc", "logloss", "rmse")}
            for e in history.epochs
        ],
        "seconds": round(time.perf_counter() - start, 1),
    }
    if warm:
        result["warm_start"] = {"from": str(args.init_from.format(seed=seed)), "tensors": warm}
    shown = " ".join(f"{k}={test[k]:.4f}" for k in test)
    print(
        f"  {spec.name} seed {seed}: test {shown} (best epoch {result['best_epoch']}/"
        f"{result['epochs_run']}, {result['epoch_time_s']:.2f} s/epoch, {result['seconds']:.0f} s)",
        flush=True,
    )
    return {
        "result": result,
        "config": config,
        "train_config": train_config,
        "skipped": skipped,
        "num_params": sum(p.numel() for p in model.parameters()),
        "protocol": data.protocol,
        "dataset": "synthetic" if args.quick else protocol.results_dir,
    }


def embedding_l2(args, setting: Setting) -> float:
    """The embedding penalty's lambda: ``--embedding-l2`` or the settings row's."""
    return setting.embedding_l2 if args.embedding_l2 is None else args.embedding_l2


def plateau_factor(args, protocol: Protocol) -> float:
    """The learning-rate factor on a validation plateau: ``--plateau-factor`` or the protocol's."""
    return protocol.plateau_factor if args.plateau_factor is None else args.plateau_factor


def _stem(name: str, args) -> str:
    """``<model>[-<variant>]``: the results file name, also used for saved states.

    Without ``--variant`` the suffix is the protocol's own (a diagnostic protocol has one) and
    ``square`` for the squared loss, so no run overwrites the protocol's results file by accident.
    """
    if args.variant is not None:
        variant = args.variant
    else:
        parts = [PROTOCOLS[args.dataset].variant, "square" if args.loss == "square" else ""]
        variant = "-".join(p for p in parts if p)
    return f"{name}-{variant}" if variant else name


def mean_std(values: list[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (0 for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else 0.0)


def parse_set(items: list[str]) -> dict[str, Any]:
    """``["hidden=[64,32]", "dropout=0.1"]`` -> ``{"hidden": [64, 32], "dropout": 0.1}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set takes key=value, got {item!r}")
        try:
            out[key] = ast.literal_eval(raw)
        except (ValueError, SyntaxError):
            out[key] = raw  # a plain string such as parallel
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


def run_model(name: str, args, overrides, given: list[str]) -> Path:
    spec = registry.get(name)
    if spec.family != "ranking":
        raise SystemExit(
            f"{spec.display_name} is a {spec.family} model; this script runs ranking models"
        )
    protocol = PROTOCOLS[args.dataset]
    table = FRAPPE_SQUARE if args.loss == "square" else protocol.settings
    setting = table.get(name, Setting())
    start = time.perf_counter()
    print(
        f"== {spec.display_name} on {args.dataset}{' (quick)' if args.quick else ''}, "
        f"loss {args.loss}, seeds {args.seeds} ==",
        flush=True,
    )
    runs = [run_seed(spec, args, protocol, setting, seed, overrides) for seed in args.seeds]
    per_seed = [r["result"] for r in runs]
    metrics: dict[str, float] = {}
    for key in [k for k in ("rmse", "auc", "logloss", "gauc") if k in per_seed[0]]:
        mean, std = mean_std([r[key] for r in per_seed])
        metrics[key], metrics[f"{key}_std"] = round(mean, 5), round(std, 5)
    first = runs[0]
    train = asdict(first["train_config"])
    train.pop("seed")
    notes = (
        protocol.notes
        if not args.quick
        else "quick smoke run on synthetic data; not a reproduction"
    )
    if first["skipped"]:
        notes += (
            f" Reference settings not applied (the model has no such field): {first['skipped']}."
        )
    if overrides:
        notes += f" Config overridden on the command line: {overrides}."
    if args.embedding_l2 is not None and args.embedding_l2 != setting.embedding_l2:
        notes += (
            f" Embedding L2 overridden: {args.embedding_l2} (settings row: {setting.embedding_l2})."
        )
    if args.plateau_factor is not None and args.plateau_factor != protocol.plateau_factor:
        notes += (
            f" Learning-rate factor on a plateau overridden: {args.plateau_factor} "
            f"(protocol: {protocol.plateau_factor}; 1 means never cut)."
        )
    result = Result(
        model=spec.name,
        dataset=first["dataset"],
        protocol=first["protocol"],
        metrics=metrics,
        command=command_for(spec.name, given),
        commit=args.commit,
        device=describe_device("cpu") + f", {args.threads} torch thread(s)",
        wall_time_s=round(time.perf_counter() - start, 1),
        paper=dict(setting.reference) if not args.quick else {},
        source=(setting.source or protocol.default_source) if not args.quick else "",
        seeds=list(args.seeds),
        config={
            "model": asdict(first["config"]),
            "train": train,
            "loss": args.loss,
            "embedding_l2": embedding_l2(args, setting),
            "net_l2": setting.net_l2,
            "plateau_lr_factor": plateau_factor(args, protocol),
            "num_params": first["num_params"],
            "epoch_time_s": round(statistics.fmean(r["epoch_time_s"] for r in per_seed), 3),
            "allocator": getattr(args, "allocator", "system default"),
            "best_epochs": [r["best_epoch"] for r in per_seed],
            "std": "sample standard deviation over seeds (ddof=1)",
            "per_seed": per_seed,
            "invocation": " ".join(["python", SCRIPT, *(shlex.quote(a) for a in given)]),
        },
        notes=notes,
    )
    stem = _stem(spec.name, args)
    root = args.out or (Path("runs") / "ctr-quick" if args.quick else RESULTS_DIR)
    path = result.save(Path(root) / result.dataset / f"{stem}.json")
    ours = ", ".join(
        f"{k}={metrics[k]:.4f}±{metrics[k + '_std']:.4f}" for k in metrics if not k.endswith("_std")
    )
    ref = ", ".join(f"{k}={v}" for k, v in result.paper.items()) or "none"
    print(
        f"SUMMARY {spec.name:14s} {ours} | reference: {ref} | params {first['num_params']:,} | "
        f"{result.config['epoch_time_s']:.2f} s/epoch | {path}",
        flush=True,
    )
    return path


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    p.add_argument("--model", nargs="+", required=True, help="registry names of ranking models")
    p.add_argument("--dataset", choices=sorted(PROTOCOLS), default="frappe")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="split and model seeds")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a model config field (after the settings table), e.g. hidden=[64]",
    )
    p.add_argument("--epochs", type=int, default=None, help="epoch limit (default: the protocol's)")
    p.add_argument("--patience", type=int, default=None, help="default: the protocol's / model's")
    p.add_argument("--batch-size", type=int, default=None, help="default: the protocol's")
    p.add_argument(
        "--embedding-l2",
        type=float,
        default=None,
        help="lambda of the penalty lambda/2 ||W||^2 on every embedding table (default: the "
        "model's settings row)",
    )
    p.add_argument(
        "--plateau-factor",
        type=float,
        default=None,
        help="learning rate x this after an epoch without a better validation monitor; 1: never "
        "cut (default: the protocol's, 0.1 on Frappe as FuxiCTR)",
    )
    p.add_argument(
        "--lr", type=float, default=None, help="learning rate (default: the protocol's)"
    )
    p.add_argument(
        "--optimizer",
        choices=("adam", "adagrad"),
        default="adam",
        help="adagrad: the NFM/AFM authors' optimiser for the square-loss runs",
    )
    p.add_argument(
        "--save-states",
        type=Path,
        default=None,
        metavar="DIR",
        help="save each seed's best model to DIR/<model>[-<variant>]-seed<seed>.pt",
    )
    p.add_argument(
        "--init-from",
        default=None,
        metavar="PATTERN",
        help="warm-start linear.* and vectors.* from a saved state; {seed} is the run's seed",
    )
    p.add_argument(
        "--loss",
        choices=("bce", "square"),
        default="bce",
        help="square: NFM/AFM papers' squared error on +1/-1 targets, reports RMSE",
    )
    p.add_argument("--variant", default=None, help="results file suffix: <model>-<variant>.json")
    p.add_argument(
        "--out",
        type=Path,
        default=None,
        help="results root (default: results/, or runs/ctr-quick with --quick)",
    )
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke run on the embedded synthetic data: 1 epoch, tiny widths, seconds",
    )
    p.add_argument("--quiet", action="store_true", help="no per-epoch progress")
    args = p.parse_args(argv)
    if args.embedding_l2 is not None and args.embedding_l2 < 0:
        p.error(f"--embedding-l2 must be >= 0, got {args.embedding_l2}")
    if args.plateau_factor is not None and not 0.0 < args.plateau_factor <= 1.0:
        p.error(f"--plateau-factor must be in (0, 1], got {args.plateau_factor}")
    if args.quick:
        args.epochs = args.epochs or 1
    return args


def main(argv: list[str] | None = None) -> list[Path]:
    given = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(given)
    torch.set_num_threads(args.threads)
    args.allocator = (  # large CPU activations reuse memory instead of page-faulting every step
        "glibc mmap off, trim threshold 1 GiB (recnotes.train.reuse_freed_memory)"
        if reuse_freed_memory()
        else "system default"
    )
    overrides = parse_set(args.set)
    args.commit = git_commit()  # the code as it was when training started
    return [run_model(name, args, overrides, given) for name in args.model]


if __name__ == "__main__":
    main()
