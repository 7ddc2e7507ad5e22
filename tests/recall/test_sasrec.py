"""SASRec: causality, padding, both losses, learning on the synthetic data, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from recnotes.data import BatchError
from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.recall.sasrec import SASRec, SASRecConfig
from recnotes.train import TrainConfig, Trainer

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data():
    return retrieval_synthetic(num_users=600, num_items=300, max_len=20, seed=0)


def model_for(data, **config) -> SASRec:
    torch.manual_seed(0)
    return SASRec(data.schema, SASRecConfig(embed_dim=16, num_heads=2, **config)).eval()


def test_position_t_sees_nothing_after_t(data):
    model = model_for(data)
    history = data.test.users["history_ids"][:8].clone()
    with torch.no_grad():
        before = model.sequence_output(history)
        changed = history.clone()
        changed[:, 12:] = torch.randint(1, 300, changed[:, 12:].shape)
        after = model.sequence_output(changed)
    # outputs at positions <= 11 are unchanged wherever the prefix is unchanged
    torch.testing.assert_close(before[:, :12], after[:, :12])
    assert not torch.allclose(before[:, 12:], after[:, 12:])


def test_left_padding_is_invisible(data):
    model = model_for(data)
    short = torch.tensor([[0, 0, 0, 5, 9, 7]])
    longer = torch.tensor([[0] * 10 + [5, 9, 7]])
    with torch.no_grad():
        a = model.user_embedding({"history_ids": short})
        b = model.user_embedding({"history_ids": longer})
        out = model.sequence_output(longer)
    torch.testing.assert_close(a, b)  # positions count from the end; padding never attended to
    assert torch.all(out[0, :10] == 0)  # padding positions stay zero


def test_ce_loss_is_softmax_cross_entropy_over_all_items(data):
    model = model_for(data, loss="ce")
    batch = data.sequences[:16]
    with torch.no_grad():
        hidden = model.sequence_output(batch["history_ids"])
        mask = batch["target_ids"] > 0
        logits = hidden[mask] @ model.item.weight.T
        logits[:, 0] = float("-inf")
        expected = F.cross_entropy(logits, batch["target_ids"][mask])
        torch.testing.assert_close(model.loss(batch), expected)


def test_bce_negatives_are_never_the_target(data, monkeypatch):
    model = model_for(data, loss="bce", num_negatives=50)
    seen: list[torch.Tensor] = []
    original = model.item.forward

    def spy(ids):
        seen.append(ids)
        return original(ids)

    monkeypatch.setattr(model.item, "forward", spy)
    batch = data.sequences[:32]
    model.loss(batch)
    targets = batch["target_ids"][batch["target_ids"] > 0]
    negatives = seen[-1]  # the last lookup embeds the negatives, (M, n)
    assert negatives.shape == (targets.shape[0], 50)
    assert (negatives != targets[:, None]).all() and negatives.min() >= 1
    assert negatives.max() <= 300


def test_a_row_batch_trains_the_last_position(data):
    model = model_for(data, loss="ce")
    rows = data.train[:10]
    seq = {"history_ids": rows["history_ids"], "target_ids": torch.zeros_like(rows["history_ids"])}
    seq["target_ids"][:, -1] = rows["item_ids"]
    with torch.no_grad():
        torch.testing.assert_close(model.loss(rows), model.loss(seq))


@pytest.mark.parametrize("loss", ["ce", "bce"])
def test_learns_beyond_popularity(data, loss):
    torch.manual_seed(0)
    model = SASRec(data.schema, SASRecConfig(embed_dim=32, loss=loss, dropout=0.2))
    epochs = {"ce": 6, "bce": 12}[loss]  # one negative per position learns more slowly
    Trainer(model, TrainConfig(epochs=epochs, batch_size=64, lr=3e-3, progress=False,
                               device="cpu")).fit(data.sequences)  # fmt: skip
    model.eval()
    with torch.no_grad():
        users = model.user_embedding(data.valid.users)
        items = model.item_embedding(data.items)
    ours = full_ranking(users, items, data.valid.targets, None,
                        exclude_items=torch.tensor([0]), ks=(10,))["ndcg@10"]  # fmt: skip
    pop = full_ranking(torch.ones(len(data.valid), 1), data.item_counts[:, None],
                       data.valid.targets, None, exclude_items=torch.tensor([0]),
                       ks=(10,))["ndcg@10"]  # fmt: skip
    assert ours > pop + 0.02, (ours, pop)


def test_bad_input_is_named(data):
    model = model_for(data)
    with pytest.raises(BatchError, match="history_ids"):
        model.user_embedding({"user_ids": torch.tensor([1])})
    with pytest.raises(BatchError, match="history_ids"):
        model.user_embedding({"history_ids": torch.tensor([[0, 999]])})
    with pytest.raises(BatchError, match="target_ids"):
        model.loss({"history_ids": torch.tensor([[1, 2]]), "target_ids": torch.tensor([[0, 0]])})
    with pytest.raises(BatchError, match="target_ids"):
        model.loss({"history_ids": torch.tensor([[1, 2]]), "target_ids": torch.tensor([[0, 400]])})
    with pytest.raises(ValueError, match="divisible"):
        SASRecConfig(embed_dim=10, num_heads=3)


def test_quick_benchmark_run_writes_a_result(tmp_path):
    out = subprocess.run(
        [sys.executable, "experiments/recall_benchmark.py", "--model", "sasrec", "--quick",
         "--seeds", "0", "--quiet", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads((tmp_path / "synthetic" / "sasrec.json").read_text())
    assert result["model"] == "sasrec" and 0 <= result["metrics"]["ndcg@10"] <= 1
    assert result["config"]["model"]["loss"] in ("bce", "ce")


def _recall_benchmark():
    from script_modules import load_script

    return load_script("experiments/recall_benchmark.py")


def test_max_len_flag_sets_the_history_length(require_data, capsys):
    bench = _recall_benchmark()
    with pytest.raises(SystemExit):
        bench.parse_args(["--model", "sasrec", "--max-len", "0"])
    assert "--max-len must be at least 1" in capsys.readouterr().err
    require_data("amazon-beauty/Beauty.txt.gz", "amazon-beauty/Beauty_item2attributes.json.gz")
    short, default = bench.PROTOCOLS["beauty"].build(7), bench.PROTOCOLS["beauty"].build()
    assert (short.max_len, default.max_len) == (7, 20)
    assert short.train["history_ids"].shape[1] == 7


def test_a_setting_for_another_history_length_needs_the_flag():
    bench = _recall_benchmark()
    assert bench.PROTOCOLS["beauty"].settings["sasrec-bce-len50"].max_len == 50
    args = bench.parse_args(["--model", "sasrec", "--dataset", "beauty", "--variant", "bce-len50"])
    with pytest.raises(SystemExit, match="--max-len 50"):
        bench.run_model("sasrec", args, data=None, overrides={}, given=[])
