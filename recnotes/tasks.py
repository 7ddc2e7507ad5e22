"""Named training tasks: a dataset, a protocol and the family of models that can train on it.

The command line (``python -m recnotes train MODEL --dataset NAME``) and the reproduction scripts
use these so that a model, once registered, trains and evaluates on every task of its family without
code of its own. A task builds its data once per seed, and knows how to turn a user into a batch of
candidates so that ``recommend`` works for any model of the family.

Tasks so far (family ``ranking``):

* ``synthetic`` — the embedded synthetic data (:mod:`recnotes.data.synthetic`) as a CTR task:
  label ``click``, random 80/10/10 split of the impressions (``ctr-random-80-10-10``).
* ``ml-1m-ctr`` — MovieLens-1M, the DCN-V2 paper protocol (:func:`recnotes.data.datasets.movielens_1m_ctr`).
* ``frappe`` — Frappe app usage, the NFM/AFM validation and test files with a rebuilt train split
  (``frappe-nfm-x1-rebuilt``, :func:`recnotes.data.datasets.frappe_ctr`); ``recommend`` scores every
  app for a user in that user's most frequent logged context.
* ``frappe-instance-cut`` — as ``frappe``, with the train split that mimics the original cut over
  all instances (``frappe-nfm-x1-rebuilt-instance-cut``, ``rebuild_frappe_train(cut="instance")``);
  a diagnostic of the protocol, not the protocol.
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from recnotes.data.schema import Schema
from recnotes.data.table import FeatureTable

__all__ = ["Task", "RankingData", "TASKS", "get_task", "train_model", "evaluate_checkpoint",
           "recommend_from_checkpoint", "build_model"]


@dataclass
class RankingData:
    """What a ranking task hands to the Trainer and to ``recommend``.

    Attributes:
        train, valid, test: the tables.
        schema: their schema.
        label: the label key.
        protocol: protocol name for results files.
        group: the feature GAUC groups by.
        candidates: ``user_id -> (batch over every item, item ids, titles)`` for recommend.
        seen: ``user_id -> item ids`` the user met in training (excluded by recommend).
    """

    train: FeatureTable
    valid: FeatureTable
    test: FeatureTable
    schema: Schema
    label: str
    protocol: str
    group: str = "user_ids"
    candidates: Callable[[int], tuple[dict[str, torch.Tensor], np.ndarray, list[str]]] | None = None
    seen: Callable[[int], np.ndarray] | None = None


@dataclass(frozen=True)
class Task:
    """A named task: ``build(seed)`` returns its data."""

    name: str
    family: str
    description: str
    build: Callable[[int], RankingData] = field(repr=False)


# -- synthetic ------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _synthetic_data():
    from recnotes.data.synthetic import make_synthetic

    return make_synthetic(seed=0)  # the data is fixed; a task's seed varies the split and the model


def _synthetic_ranking(seed: int) -> RankingData:
    from recnotes.data.splits import random_split

    data = _synthetic_data()
    table = data.ctr_table()
    schema = table.schema.select([n for n in table.schema.names() if n != "conversion"])
    table = FeatureTable({k: table.columns[k] for k in schema.names()}, schema, validate=False)
    split = random_split(data.impressions, (0.8, 0.1, 0.1), seed=seed)
    parts = [table.subset(torch.from_numpy(s.index.to_numpy().copy())) for s in (split.train, split.valid, split.test)]
    users = data.users.set_index("user_id")
    items = data.items.sort_values("item_id")
    train_imp = data.impressions.loc[split.train.index]

    def candidates(user_id: int):
        if user_id not in users.index:
            raise ValueError(f"unknown user {user_id}: synthetic users are 1..{data.num_users}")
        n = len(items)
        batch = {"user_ids": torch.full((n,), user_id, dtype=torch.long)}
        for name in data.USER_FEATURES:
            batch[name] = torch.full((n,), int(users.at[user_id, name]), dtype=torch.long)
        batch["item_ids"] = torch.tensor(items["item_id"].to_numpy(), dtype=torch.long)
        for name in data.ITEM_FEATURES:
            batch[name] = torch.tensor(items[name].to_numpy(), dtype=torch.long)
        price = np.log(items["price"].to_numpy())
        batch["log_price"] = torch.as_tensor((price - price.mean()) / (price.std() + 1e-12), dtype=torch.float32)
        titles = [f"category {c}, brand {b}" for c, b in zip(items["category"], items["brand"])]
        return batch, items["item_id"].to_numpy(), titles

    def seen(user_id: int) -> np.ndarray:
        return train_imp.loc[train_imp["user_id"] == user_id, "item_id"].unique()

    return RankingData(*parts, schema=schema, label="click", protocol="ctr-random-80-10-10",
                       candidates=candidates, seen=seen)


# -- MovieLens-1M CTR -----------------------------------------------------------------------------
def _ml1m_ranking(seed: int) -> RankingData:
    from recnotes.data.datasets import load_movielens_1m, movielens_1m_ctr

    ml = load_movielens_1m()
    split = movielens_1m_ctr(seed=seed, data=ml)
    vocab = split.vocabularies
    movies = ml.movies.set_index("item_id")
    users = ml.users.set_index("user_id")
    known_items = np.asarray(vocab["item_ids"], dtype=np.int64)  # raw MovieIDs in the vocabulary
    train = split.train

    def encode(feature: str, raw_value: Any) -> int:
        values = vocab[feature]
        pos = int(np.searchsorted(values, raw_value))
        return pos + 1 if pos < len(values) and values[pos] == raw_value else 0

    def candidates(user_id: int):
        if user_id not in users.index:
            raise ValueError(f"unknown user {user_id}: MovieLens-1M users are 1..6040")
        n = len(known_items)
        batch = {"user_ids": torch.full((n,), encode("user_ids", user_id), dtype=torch.long)}
        for name in ("gender", "age", "occupation", "zip"):
            batch[name] = torch.full((n,), encode(name, users.at[user_id, name]), dtype=torch.long)
        batch["item_ids"] = torch.arange(1, n + 1, dtype=torch.long)
        titles = [str(movies.at[i, "title"]) if i in movies.index else "" for i in known_items]
        return batch, known_items, titles

    def seen(user_id: int) -> np.ndarray:
        uid = encode("user_ids", user_id)
        rows = train.columns["user_ids"] == uid
        return known_items[train.columns["item_ids"][rows].numpy() - 1]

    return RankingData(split.train, split.valid, split.test, schema=split.schema, label="label",
                       protocol=split.protocol, candidates=candidates, seen=seen)


# -- Frappe ---------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=1)
def _frappe_data():
    from recnotes.data.datasets import load_frappe

    return load_frappe()  # logs, metadata and the NFM files; a task's seed varies the train negatives


#: Frappe fields that describe the moment of use; ``cost`` (free or paid) belongs to the app.
_FRAPPE_CONTEXT = ("daytime", "weekday", "isweekend", "homework", "weather", "country", "city")


def _frappe_ranking(seed: int, cut: str = "positive") -> RankingData:
    from recnotes.data.datasets import frappe_ctr

    fr = _frappe_data()
    split = frappe_ctr(seed=seed, data=fr, cut=cut)
    coded = fr.encode(fr.logs) + 1  # ids as in the tables: field code + 1 (0 is padding)
    coded["raw_user"] = fr.logs["user_id"].to_numpy()
    item_raw = np.asarray(fr.vocabularies["item_id"])  # item id of code k is item_raw[k]
    names = fr.meta.set_index("item_id")["name"]
    titles = [str(names.get(i, "")) for i in item_raw]
    item_ids = np.arange(1, len(item_raw) + 1)
    item_cost = coded.groupby("item_id")["cost"].agg(lambda c: c.mode().iloc[0])  # one value per app
    cost = item_cost.reindex(item_ids).fillna(0).to_numpy(dtype=np.int64, copy=True)
    train = split.train

    def user_code(user_id: int) -> int:
        rows = coded.index[coded["raw_user"] == user_id]
        if len(rows) == 0:
            raise ValueError(
                f"unknown user {user_id}: Frappe users are the `user` values of frappe.csv "
                f"({fr.field_sizes['user_id']} users)"
            )
        return int(coded.at[rows[0], "user_id"])

    def candidates(user_id: int):
        uid = user_code(user_id)
        logs = coded[coded["user_id"] == uid]
        context = logs.groupby(list(_FRAPPE_CONTEXT)).size().idxmax()  # the most frequent context
        n = len(item_ids)
        batch = {"user_ids": torch.full((n,), uid, dtype=torch.long),
                 "item_ids": torch.tensor(item_ids, dtype=torch.long),
                 "cost": torch.tensor(cost, dtype=torch.long)}
        for name, value in zip(_FRAPPE_CONTEXT, context):
            batch[name] = torch.full((n,), int(value), dtype=torch.long)
        return batch, item_raw, titles

    def seen(user_id: int) -> np.ndarray:
        rows = (train.columns["user_ids"] == user_code(user_id)) & (train.columns["label"] > 0)
        return item_raw[train.columns["item_ids"][rows].numpy() - 1]

    return RankingData(split.train, split.valid, split.test, schema=split.schema, label="label",
                       protocol=split.protocol, candidates=candidates, seen=seen)


TASKS: dict[str, Task] = {
    "synthetic": Task(
        "synthetic", "ranking",
        "embedded synthetic CTR data (label click), random 80/10/10 split; offline, seconds",
        _synthetic_ranking,
    ),
    "ml-1m-ctr": Task(
        "ml-1m-ctr", "ranking",
        "MovieLens-1M CTR, DCN-V2 protocol (4-5 -> 1, 1-2 -> 0, 3 dropped; random 80/10/10); "
        "needs ml-1m/ under RECNOTES_DATA",
        _ml1m_ranking,
    ),
    "frappe": Task(
        "frappe", "ranking",
        "Frappe CTR, NFM/AFM validation and test files with a rebuilt train split "
        "(frappe-nfm-x1-rebuilt, BARS Frappe_x1 design); needs frappe/ under RECNOTES_DATA",
        _frappe_ranking,
    ),
    "frappe-instance-cut": Task(
        "frappe-instance-cut", "ranking",
        "Frappe CTR as `frappe`, but the train split mimics the original 70/20/10 cut over all "
        "instances (frappe-nfm-x1-rebuilt-instance-cut, a diagnostic); needs frappe/ under RECNOTES_DATA",
        functools.partial(_frappe_ranking, cut="instance"),
    ),
}


def get_task(name: str) -> Task:
    """A task by name, with the list of names in the error."""
    if name not in TASKS:
        raise ValueError(f"unknown dataset task {name!r}; tasks: {', '.join(TASKS)}")
    return TASKS[name]


# -- train / evaluate / recommend -----------------------------------------------------------------
def _check_overrides(spec, overrides: Mapping[str, Any]) -> None:
    known = {f.name for f in fields(spec.config_cls)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"{spec.display_name} has no config field(s) {unknown}; fields: {sorted(known)}")


def build_model(spec, schema: Schema, overrides: Mapping[str, Any] | None = None) -> torch.nn.Module:
    """``spec.cls(schema, spec.config_cls(**overrides))`` with a readable error for unknown fields."""
    overrides = dict(overrides or {})
    _check_overrides(spec, overrides)
    return spec.cls(schema, spec.config_cls(**overrides))


def _ctr_scores(model: torch.nn.Module, table: FeatureTable, batch_size: int = 65536) -> torch.Tensor:
    device = next(model.parameters()).device
    out = []
    for start in range(0, len(table), batch_size):
        batch = {k: v.to(device) for k, v in table[start : start + batch_size].items()}
        out.append(model(batch).float().cpu())
    return torch.cat(out)


def _ranking_metrics(model: torch.nn.Module, data: RankingData, table: FeatureTable) -> dict[str, float]:
    from recnotes.evaluate import evaluate_ctr

    was = model.training
    model.eval()
    with torch.no_grad():
        logits = _ctr_scores(model, table)
    model.train(was)
    groups = table.columns.get(data.group)
    out = evaluate_ctr(logits, table.columns[data.label], groups)
    return {k: float(v) for k, v in out.items() if k in ("auc", "logloss", "gauc")}


def train_model(spec, *, dataset: str, out: Path, overrides: Mapping[str, Any] | None = None,
                epochs: int = 5, batch_size: int = 1024, lr: float = 1e-3, weight_decay: float = 0.0,
                patience: int = 2, seed: int = 0, device: str = "auto", resume: bool = False,
                progress: bool = True, command: str = ""):
    """Train a registered model on a task; return a :class:`~recnotes.results.Result` for the test split."""
    from recnotes.results import Result, describe_device, git_commit
    from recnotes.train import TrainConfig, Trainer, resolve_device, seed_everything

    task = get_task(dataset)
    if spec.family != task.family:
        raise ValueError(
            f"{spec.display_name} is a {spec.family} model; task {dataset!r} is for {task.family} models"
        )
    _check_overrides(spec, overrides or {})
    start, commit = time.perf_counter(), git_commit()  # the code as it was when training started
    data = task.build(seed)
    seed_everything(seed)
    model = build_model(spec, data.schema, overrides)
    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                         monitor="auc", patience=patience, seed=seed, device=device,
                         label=data.label, checkpoint_dir=str(out), progress=progress)
    trainer = Trainer(model, config, validate_fn=lambda m: _ranking_metrics(m, data, data.valid))
    trainer.fit(data.train, resume=resume)
    metrics = _ranking_metrics(model, data, data.test)
    meta_path = Path(out) / "config.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta.update(model=spec.name, dataset=dataset, seed=seed, test_metrics=metrics)
    meta_path.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return Result(
        model=spec.name, dataset=dataset, protocol=data.protocol, metrics=metrics,
        command=command or f"python -m recnotes train {spec.name} --dataset {dataset}",
        commit=commit, device=describe_device(str(resolve_device(device))),
        wall_time_s=round(time.perf_counter() - start, 1), seeds=[seed],
        config={"model": meta["model_config"], "train": meta["train_config"]},
    )


def _load_trained(checkpoint: Path):
    from recnotes import registry
    from recnotes.train import load_checkpoint

    meta_path = Path(checkpoint) / "config.json"
    if not meta_path.exists():
        raise FileNotFoundError(f"{checkpoint} is not a checkpoint folder written by `train` (no config.json)")
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if "model" not in meta:
        raise ValueError(f"{meta_path} was not written by `python -m recnotes train`")
    spec = registry.get(meta["model"])
    data = get_task(meta["dataset"]).build(int(meta["seed"]))
    model = build_model(spec, data.schema, meta["model_config"] or {})
    load_checkpoint(model, checkpoint)
    return model.eval(), data


def evaluate_checkpoint(checkpoint: Path) -> dict[str, float]:
    """Test-split metrics of a trained checkpoint folder."""
    model, data = _load_trained(checkpoint)
    return _ranking_metrics(model, data, data.test)


def recommend_from_checkpoint(checkpoint: Path, *, user_id: int, k: int = 10) -> list[dict[str, Any]]:
    """Top-``k`` unseen items for a user, scored by a trained ranking model."""
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    model, data = _load_trained(checkpoint)
    batch, item_ids, titles = data.candidates(user_id)
    with torch.no_grad():
        scores = model(batch).float()
    seen = np.isin(item_ids, data.seen(user_id))
    scores[torch.as_tensor(seen)] = float("-inf")
    top = torch.topk(scores, min(k, int((~torch.as_tensor(seen)).sum()))).indices.tolist()
    return [{"item_id": int(item_ids[i]), "score": float(scores[i]), "title": titles[i]} for i in top]
