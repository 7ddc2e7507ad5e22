"""One Trainer for every model family.

The Trainer owns the loop that every experiment in recnotes shares: seeded batches, a tqdm progress
bar, validation after each epoch, early stopping on a named metric, checkpoints (weights + config as
JSON, loaded with ``weights_only=True``), resume to the same result, CPU or CUDA chosen automatically,
mixed precision on CUDA, and data parallel training under ``torchrun``.

What a model is trained *on* is the only family-specific part, and it is a function:
``loss_fn(model, batch) -> scalar``. The default asks the model for ``model.loss(batch)`` when it has
one (retrievers: in-batch softmax, BPR, ...) and otherwise treats the model as a ranker — binary
cross-entropy between ``model(batch)`` (logits, shape ``(B,)``) and ``batch[label]``.

Example:
    >>> import torch
    >>> from recnotes.data import Feature, FeatureTable, Schema
    >>> schema = Schema([Feature("x", "dense", dim=3), Feature("label", "label")])
    >>> x = torch.randn(256, 3, generator=torch.Generator().manual_seed(0))
    >>> table = FeatureTable({"x": x, "label": (x[:, 0] > 0).float()}, schema)
    >>> class Linear(torch.nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = torch.nn.Linear(3, 1)
    ...     def forward(self, batch):
    ...         return self.fc(batch["x"]).squeeze(-1)
    >>> trainer = Trainer(Linear(), TrainConfig(epochs=3, batch_size=64, lr=0.05, progress=False))
    >>> history = trainer.fit(table)
    >>> len(history.epochs), history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"]
    (3, True)
"""

from __future__ import annotations

import json
import math
import os
import random
import time
from collections.abc import Callable, Mapping
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field, is_dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from recnotes.data.table import BatchIterator, FeatureTable

__all__ = [
    "TrainConfig",
    "Trainer",
    "History",
    "seed_everything",
    "default_loss",
    "load_checkpoint",
    "resolve_device",
    "CheckpointError",
    "reuse_freed_memory",
]

LossFn = Callable[[nn.Module, Mapping[str, torch.Tensor]], torch.Tensor]
ValidateFn = Callable[[nn.Module], Mapping[str, float]]

_OPTIMIZERS = ("adam", "adamw", "sgd", "adagrad")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable or does not fit the model."""


@dataclass(frozen=True)
class TrainConfig:
    """How to train. Every field has a sensible default for the small demos.

    Args:
        epochs: maximum number of passes over the training table.
        batch_size: global batch size (split evenly across processes under ``torchrun``).
        lr: learning rate.
        weight_decay: L2 penalty passed to the optimiser.
        optimizer: ``"adam"``, ``"adamw"``, ``"sgd"`` or ``"adagrad"``.
        monitor: validation metric for early stopping and the best checkpoint (``"auc"``); None
            trains all epochs and keeps the last weights.
        mode: ``"max"`` if a larger monitored value is better, else ``"min"``.
        patience: epochs without improvement before stopping.
        restore_best: load the best epoch's weights when training ends.
        seed: seeds weights' initialisation (call :func:`seed_everything` before building the
            model for that), batch order and dropout.
        device: ``"auto"`` (CUDA when available), ``"cpu"`` or ``"cuda[:i]"``.
        amp: bfloat16 autocast on CUDA (ignored on CPU).
        grad_clip: clip the gradient norm to this value, or None.
        label: key of the label in a batch (default loss only).
        checkpoint_dir: where ``last.pt``, ``best.pt`` and ``config.json`` go; None saves nothing.
        progress: show a tqdm progress bar.
        drop_last: skip the last incomplete batch each epoch.
    """

    epochs: int = 10
    batch_size: int = 1024
    lr: float = 1e-3
    weight_decay: float = 0.0
    optimizer: str = "adam"
    monitor: str | None = None
    mode: str = "max"
    patience: int = 3
    restore_best: bool = True
    seed: int = 0
    device: str = "auto"
    amp: bool = True
    grad_clip: float | None = None
    label: str = "label"
    checkpoint_dir: str | None = None
    progress: bool = True
    drop_last: bool = False

    def __post_init__(self) -> None:
        if self.epochs < 1:
            raise ValueError(f"epochs must be >= 1, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise ValueError(f"lr must be a positive number, got {self.lr}")
        if self.weight_decay < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay}")
        if self.optimizer not in _OPTIMIZERS:
            raise ValueError(f"optimizer must be one of {_OPTIMIZERS}, got {self.optimizer!r}")
        if self.mode not in ("max", "min"):
            raise ValueError(f"mode must be 'max' or 'min', got {self.mode!r}")
        if self.patience < 1:
            raise ValueError(f"patience must be >= 1, got {self.patience}")
        if self.grad_clip is not None and self.grad_clip <= 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip}")


@dataclass
class History:
    """What happened during :meth:`Trainer.fit`: one dict per epoch, and the best epoch."""

    epochs: list[dict[str, float]] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    stopped_early: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) so a CPU run repeats exactly."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (seeds legacy global-state users too)
    torch.manual_seed(seed)


def reuse_freed_memory() -> bool:
    """Make glibc keep freed memory for reuse instead of handing it back to the OS at once.

    By default glibc serves every allocation above a threshold (at most 32 MiB) with a fresh
    ``mmap`` and unmaps it on ``free``, so a CPU training step that builds a large activation (AFM's
    ``(B * P, T)`` attention layer is 94 MB for Frappe's batch of 4,096) pays a page fault for each
    4 KiB of it, every step: filling a fresh 94 MB tensor took 147 ms here against 13 ms for reused
    memory (a 2-core AMD EPYC). This turns ``mmap`` off for allocations and raises the trim
    threshold to 1 GiB, the effect PyTorch's CPU tuning guide gets from jemalloc or tcmalloc.
    The cost: the process keeps its peak heap until it exits. It affects the whole process, so
    scripts call it once at start (``experiments/ctr_benchmark.py`` does); the library never
    calls it on its own.

    Returns:
        True when the settings were applied; False where the C library is not glibc (macOS,
        Windows, musl), where this does nothing.

    Example:
        >>> from recnotes.train import reuse_freed_memory
        >>> applied = reuse_freed_memory()  # True on Linux with glibc
    """
    import ctypes
    import ctypes.util
    import platform

    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_max = -1, -4  # <malloc.h>
    return bool(mallopt(m_mmap_max, 0)) and bool(mallopt(m_trim_threshold, 1 << 30))


def resolve_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA if available else CPU; anything else is checked and returned."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but CUDA is not available here")
    return dev


def default_loss(
    model: nn.Module, batch: Mapping[str, torch.Tensor], label: str = "label"
) -> torch.Tensor:
    """``model.loss(batch)`` if the model defines it, else BCE-with-logits of ``model(batch)``."""
    if hasattr(model, "loss"):
        return model.loss(batch)
    if label not in batch:
        raise KeyError(
            f"the default ranking loss needs the label '{label}' in the batch "
            f"(the batch has: {sorted(batch)}); set TrainConfig.label or pass loss_fn"
        )
    logits = model(batch)
    return F.binary_cross_entropy_with_logits(logits.float(), batch[label].float())


class _LossModule(nn.Module):
    """Wraps model + loss so DistributedDataParallel sees one forward that returns the loss."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        return self.loss_fn(self.model, batch)


def _config_dict(obj: Any) -> Any:
    if is_dataclass(obj) and not isinstance(obj, type):
        return {k: _config_dict(v) for k, v in asdict(obj).items()}
    if isinstance(obj, (list, tuple)):
        return [_config_dict(v) for v in obj]
    if isinstance(obj, dict):
        return {str(k): _config_dict(v) for k, v in obj.items()}
    if isinstance(obj, (str, int, float, bool)) or obj is None:
        return obj
    return repr(obj)


class Trainer:
    """Train any recnotes model.

    Args:
        model: the model; moved to the chosen device.
        config: a :class:`TrainConfig`.
        loss_fn: ``loss_fn(model, batch) -> scalar``; default :func:`default_loss`.
        validate_fn: ``validate_fn(model) -> {metric: value}``, called after each epoch in eval mode
            under ``torch.no_grad()`` (on rank 0 only under data parallel training).

    Under ``torchrun`` (``WORLD_SIZE > 1``) the Trainer joins the process group (gloo on CPU, NCCL on
    CUDA), wraps the model in ``DistributedDataParallel`` and gives each process an equal share of
    every global batch, so the gradient step equals the single-process step on the whole batch.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig | None = None,
        *,
        loss_fn: LossFn | None = None,
        validate_fn: ValidateFn | None = None,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"Trainer takes a torch.nn.Module, got {type(model).__name__}")
        self.config = config or TrainConfig()
        self.rank, self.world_size = _dist_rank_world()
        if self.world_size > 1:
            self.device = _init_distributed()
        else:
            self.device = resolve_device(self.config.device)
        self.model = model.to(self.device)
        label = self.config.label
        self.loss_fn = loss_fn or (lambda m, b: default_loss(m, b, label))
        self.validate_fn = validate_fn
        self._loss_module: nn.Module = _LossModule(self.model, self.loss_fn)
        if self.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == "cuda" else None
            self._loss_module = DistributedDataParallel(self._loss_module, device_ids=ids)
        self.optimizer = self._make_optimizer()
        self.history = History()
        self._start_epoch = 0
        self._bad_epochs = 0
        self._best_state: dict[str, torch.Tensor] | None = None

    # -- set-up ------------------------------------------------------------------------------
    def _make_optimizer(self) -> torch.optim.Optimizer:
        c = self.config
        params = [p for p in self.model.parameters() if p.requires_grad]
        if not params:
            raise ValueError("the model has no trainable parameters")
        if c.optimizer in ("adam", "adamw"):
            # The fused kernel updates each parameter in one pass instead of a dozen tensor ops:
            # the Adam step of a CTR model on CPU takes a third of the time (same update rule).
            fused = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
            cls = torch.optim.Adam if c.optimizer == "adam" else torch.optim.AdamW
            return cls(params, lr=c.lr, weight_decay=c.weight_decay, fused=fused or None)
        if c.optimizer == "adagrad":
            return torch.optim.Adagrad(params, lr=c.lr, weight_decay=c.weight_decay)
        return torch.optim.SGD(params, lr=c.lr, weight_decay=c.weight_decay)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def _autocast(self):
        if self.config.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    # -- the loop ----------------------------------------------------------------------------
    def fit(self, train: FeatureTable | BatchIterator, *, resume: bool = False) -> History:
        """Train; returns the :class:`History` (also kept on ``self.history``).

        Args:
            train: a table (batched with the config's batch size and seed) or a ready iterator.
            resume: continue from ``checkpoint_dir/last.pt`` if it exists.
        """
        c = self.config
        batches = self._batches(train)
        if resume:
            if c.checkpoint_dir is None:
                raise ValueError("resume=True needs TrainConfig.checkpoint_dir")
            last = Path(c.checkpoint_dir) / "last.pt"
            if last.exists():
                self._restore(last)
        if self._start_epoch >= c.epochs:
            return self.history
        for epoch in range(self._start_epoch, c.epochs):
            batches.set_epoch(epoch)
            start = time.perf_counter()
            train_loss = self._train_epoch(batches, epoch)
            record: dict[str, float] = {
                "epoch": epoch,
                "train_loss": train_loss,
                "epoch_time_s": time.perf_counter() - start,
            }
            record.update(self._validate())
            self.history.epochs.append(record)
            stop = self._track_best(record, epoch)
            self._start_epoch = epoch + 1
            self._save(epoch)
            if self.is_main and c.progress:
                shown = ", ".join(
                    f"{k}={v:.4f}" for k, v in record.items() if k not in ("epoch", "epoch_time_s")
                )
                print(f"epoch {epoch + 1}/{c.epochs}: {shown}", flush=True)
            if stop:
                self.history.stopped_early = True
                break
        if c.restore_best and self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        return self.history

    def _batches(self, train: FeatureTable | BatchIterator) -> BatchIterator:
        c = self.config
        if isinstance(train, BatchIterator):
            if self.world_size > 1 and train.world_size != self.world_size:
                raise ValueError("under torchrun pass a FeatureTable so the Trainer can shard it")
            return train
        if isinstance(train, FeatureTable):
            if len(train) == 0:
                raise ValueError("the training table is empty")
            return BatchIterator(
                train,
                c.batch_size,
                shuffle=True,
                drop_last=c.drop_last,
                seed=c.seed,
                rank=self.rank,
                world_size=self.world_size,
            )
        raise TypeError(f"fit takes a FeatureTable or BatchIterator, got {type(train).__name__}")

    def _train_epoch(self, batches: BatchIterator, epoch: int) -> float:
        from tqdm.auto import tqdm

        c = self.config
        self._loss_module.train()
        total = torch.zeros((), device=self.device)
        steps = 0
        bar = tqdm(
            batches,
            total=len(batches),
            desc=f"epoch {epoch + 1}/{c.epochs}",
            disable=not (c.progress and self.is_main),
            leave=False,
            mininterval=0.5,
        )
        for batch in bar:
            batch = {k: v.to(self.device, non_blocking=True) for k, v in batch.items()}
            with self._autocast():
                loss = self._loss_module(batch)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"the loss became {loss.item()} at epoch {epoch + 1}, step {steps + 1}; "
                    "lower the learning rate or check the inputs"
                )
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if c.grad_clip is not None:
                nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
            self.optimizer.step()
            total += loss.detach()
            steps += 1
            if steps % 50 == 0:
                bar.set_postfix(loss=f"{total.item() / steps:.4f}")
        if steps == 0:
            raise ValueError(
                "an epoch had no batches (table smaller than one batch with drop_last?)"
            )
        mean = total / steps
        if self.world_size > 1:
            import torch.distributed as dist

            dist.all_reduce(mean)
            mean /= self.world_size
        return float(mean)

    def _validate(self) -> dict[str, float]:
        if self.validate_fn is None or not self.is_main:
            return {}
        was_training = self.model.training
        self.model.eval()
        with torch.no_grad():
            metrics = dict(self.validate_fn(self.model))
        self.model.train(was_training)
        for k, v in metrics.items():
            if not isinstance(v, (int, float)):
                raise TypeError(f"validate_fn returned {k}={v!r}; metrics must be numbers")
        return {k: float(v) for k, v in metrics.items()}

    def _track_best(self, record: Mapping[str, float], epoch: int) -> bool:
        c = self.config
        if c.monitor is None:
            return False
        if self.world_size > 1:
            return False  # validation runs on rank 0 only; early stopping is single-process
        if c.monitor not in record:
            raise KeyError(
                f"monitor '{c.monitor}' is not among the validation metrics {sorted(record)}; "
                "pass a validate_fn that returns it"
            )
        value = record[c.monitor]
        better = (
            self.history.best_value is None
            or (c.mode == "max" and value > self.history.best_value)
            or (c.mode == "min" and value < self.history.best_value)
        )
        if better:
            self.history.best_value = value
            self.history.best_epoch = epoch
            self._best_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            self._bad_epochs = 0
            return False
        self._bad_epochs += 1
        return self._bad_epochs >= c.patience

    # -- checkpoints -------------------------------------------------------------------------
    def _save(self, epoch: int) -> None:
        c = self.config
        if c.checkpoint_dir is None or not self.is_main:
            return
        folder = Path(c.checkpoint_dir)
        folder.mkdir(parents=True, exist_ok=True)
        state = {
            "model": self.model.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "epoch": epoch,
            "bad_epochs": self._bad_epochs,
            "history": json.dumps(self.history.to_dict()),
            "torch_rng": torch.get_rng_state(),
            "best_state": self._best_state or {},
        }
        if torch.cuda.is_available():
            state["cuda_rng"] = torch.cuda.get_rng_state_all()
        _atomic_save(state, folder / "last.pt")
        if self.history.best_epoch == epoch or c.monitor is None:
            _atomic_save(self.model.state_dict(), folder / "best.pt")
        meta = {
            "model_class": f"{type(self.model).__module__}.{type(self.model).__qualname__}",
            "model_config": _config_dict(getattr(self.model, "config", None)),
            "train_config": _config_dict(self.config),
            "epoch": epoch,
            "history": self.history.to_dict(),
        }
        tmp = folder / "config.json.tmp"
        tmp.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
        tmp.replace(folder / "config.json")

    def _restore(self, path: Path) -> None:
        state = _safe_load(path)
        try:
            self.model.load_state_dict(state["model"])
        except RuntimeError as err:
            raise CheckpointError(f"{path} does not fit this model: {err}") from err
        self.optimizer.load_state_dict(state["optimizer"])
        self._start_epoch = int(state["epoch"]) + 1
        self._bad_epochs = int(state["bad_epochs"])
        hist = json.loads(state["history"])
        self.history = History(**hist)
        self._best_state = state["best_state"] or None
        torch.set_rng_state(state["torch_rng"])
        if "cuda_rng" in state and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["cuda_rng"])


def _atomic_save(obj: Any, path: Path) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(obj, tmp)
    tmp.replace(path)


def _safe_load(path: str | Path) -> dict[str, Any]:
    path = Path(path)
    if not path.exists():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # unpickling errors come in many types
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from err


def load_checkpoint(model: nn.Module, checkpoint_dir: str | Path, which: str = "best") -> nn.Module:
    """Load ``best.pt`` (or ``last.pt``) from a Trainer's checkpoint folder into ``model``.

    Loading uses ``weights_only=True``: a checkpoint can hold tensors and plain containers only,
    never code. Raises :class:`CheckpointError` if the file is missing or does not fit the model.
    """
    if which not in ("best", "last"):
        raise ValueError(f"which must be 'best' or 'last', got {which!r}")
    path = Path(checkpoint_dir) / f"{which}.pt"
    state = _safe_load(path)
    if which == "last":
        state = state["model"]
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"{path} does not fit this model: {err}") from err
    return model


def _dist_rank_world() -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    return rank, world


def _init_distributed() -> torch.device:
    import torch.distributed as dist

    if torch.cuda.is_available():
        local = int(os.environ.get("LOCAL_RANK", "0"))
        torch.cuda.set_device(local)
        device, backend = torch.device("cuda", local), "nccl"
    else:
        device, backend = torch.device("cpu"), "gloo"
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return device
