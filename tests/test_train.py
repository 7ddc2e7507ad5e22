"""The Trainer: learning, exact reproducibility, resume, early stopping, checkpoints, data parallel."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from toy_models import TOY_SCHEMA, ToyRanker, ToyRankerConfig

from recnotes.data import FeatureTable
from recnotes.metrics import auc
from recnotes.train import (
    CheckpointError,
    TrainConfig,
    Trainer,
    load_checkpoint,
    resolve_device,
    seed_everything,
)

HERE = Path(__file__).resolve().parent


def make_table(n: int = 1024, seed: int = 0) -> FeatureTable:
    gen = torch.Generator().manual_seed(seed)
    users = torch.randint(1, 8, (n,), generator=gen)
    items = torch.randint(1, 6, (n,), generator=gen)
    label = ((users + items) % 2).float()  # learnable only through the interaction term
    return FeatureTable({"user_ids": users, "item_ids": items, "label": label}, TOY_SCHEMA)


def build(seed: int = 0, dropout: float = 0.2) -> ToyRanker:
    seed_everything(seed)
    return ToyRanker(TOY_SCHEMA, ToyRankerConfig(embed_dim=4, dropout=dropout))


def validator(table: FeatureTable):
    def validate(model):
        batch = table[:]
        return {"auc": auc(batch["label"], model(batch))}

    return validate


def params(model) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


CFG = dict(batch_size=128, lr=0.05, progress=False, device="cpu")


def test_training_learns_the_planted_interaction():
    train, valid = make_table(seed=0), make_table(seed=1)
    model = build()
    trainer = Trainer(model, TrainConfig(epochs=15, **CFG), validate_fn=validator(valid))
    history = trainer.fit(train)
    assert history.epochs[-1]["train_loss"] < history.epochs[0]["train_loss"]
    assert history.epochs[-1]["auc"] > 0.95


def test_seeded_cpu_run_repeats_exactly():
    runs = []
    for _ in range(2):
        model = build()
        Trainer(model, TrainConfig(epochs=3, **CFG)).fit(make_table())
        runs.append(params(model))
    for key in runs[0]:
        assert torch.equal(runs[0][key], runs[1][key]), key


def test_resume_reaches_the_same_result(tmp_path):
    straight = build()
    Trainer(straight, TrainConfig(epochs=4, **CFG)).fit(make_table())

    first = build()
    Trainer(first, TrainConfig(epochs=2, checkpoint_dir=str(tmp_path), **CFG)).fit(make_table())
    resumed = build(seed=123)  # different initialisation: everything must come from the checkpoint
    trainer = Trainer(resumed, TrainConfig(epochs=4, checkpoint_dir=str(tmp_path), **CFG))
    history = trainer.fit(make_table(), resume=True)
    assert [e["epoch"] for e in history.epochs] == [0, 1, 2, 3]
    for key, value in params(straight).items():
        assert torch.equal(value, resumed.state_dict()[key]), key


def test_early_stopping_restores_the_best_epoch(tmp_path):
    train, valid = make_table(seed=0), make_table(seed=1)
    scores = iter([0.5, 0.7, 0.6, 0.65, 0.9])
    seen = {}

    def validate(model):
        value = next(scores)
        seen[value] = params(model)
        return {"auc": value}

    model = build()
    config = TrainConfig(epochs=10, monitor="auc", patience=2, checkpoint_dir=str(tmp_path), **CFG)
    history = Trainer(model, config, validate_fn=validate).fit(train)
    assert history.stopped_early and len(history.epochs) == 4
    assert history.best_epoch == 1 and history.best_value == 0.7
    for key, value in seen[0.7].items():
        assert torch.equal(model.state_dict()[key], value)
    # best.pt holds the same weights, loadable with weights_only=True
    fresh = load_checkpoint(build(seed=5), tmp_path)
    for key, value in seen[0.7].items():
        assert torch.equal(fresh.state_dict()[key], value)
    meta = json.loads((tmp_path / "config.json").read_text())
    assert meta["model_config"] == {"embed_dim": 4, "dropout": 0.2}
    assert meta["train_config"]["monitor"] == "auc"
    del valid


def test_checkpoint_errors_are_named(tmp_path):
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(build(), tmp_path)
    other = ToyRanker(TOY_SCHEMA, ToyRankerConfig(embed_dim=3))
    Trainer(other, TrainConfig(epochs=1, checkpoint_dir=str(tmp_path), **CFG)).fit(make_table())
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(build(), tmp_path)
    (tmp_path / "best.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="cannot read"):
        load_checkpoint(build(), tmp_path)


def test_monitor_must_be_a_validation_metric():
    trainer = Trainer(
        build(), TrainConfig(epochs=1, monitor="ndcg@10", **CFG), validate_fn=lambda m: {"auc": 0.5}
    )
    with pytest.raises(KeyError, match="monitor 'ndcg@10'"):
        trainer.fit(make_table())


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"epochs": 0}, "epochs"),
        ({"lr": -1.0}, "lr"),
        ({"optimizer": "lion"}, "optimizer"),
        ({"mode": "up"}, "mode"),
        ({"batch_size": 0}, "batch_size"),
    ],
)
def test_bad_config_is_rejected(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(**kwargs)


def test_bad_inputs_are_rejected():
    with pytest.raises(TypeError, match="torch.nn.Module"):
        Trainer("not a model")
    with pytest.raises(TypeError, match="FeatureTable"):
        Trainer(build(), TrainConfig(**CFG)).fit([1, 2, 3])
    with pytest.raises(ValueError, match="CUDA is not available"):
        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
        resolve_device("cuda")


def test_a_diverging_loss_stops_with_a_clear_error():
    table = make_table()
    bad = FeatureTable(
        {**table.columns, "label": torch.full((len(table),), float("nan"))},
        TOY_SCHEMA,
        validate=False,
    )
    with pytest.raises(FloatingPointError, match="loss became nan"):
        Trainer(build(), TrainConfig(epochs=1, **CFG)).fit(bad)


@pytest.mark.slow
def test_two_process_data_parallel_matches_one_process(tmp_path):
    """torchrun with 2 CPU processes (gloo) must reach the single-process weights."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    script = HERE / "scripts" / "ddp_train.py"
    single, double = tmp_path / "single.pt", tmp_path / "double.pt"
    subprocess.run([sys.executable, str(script), str(single)], check=True, env=env, timeout=120)
    subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node=2",
            str(script),
            str(double),
        ],
        check=True,
        env=env,
        timeout=180,
        capture_output=True,
    )
    a = torch.load(single, weights_only=True)
    b = torch.load(double, weights_only=True)
    for key in a["state"]:
        torch.testing.assert_close(a["state"][key], b["state"][key], rtol=1e-4, atol=1e-5)
    assert abs(a["loss"] - b["loss"]) < 1e-4


def test_reuse_freed_memory_applies_on_linux_glibc():
    import platform

    from recnotes.train import reuse_freed_memory

    expected = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert reuse_freed_memory() is expected
