"""MIND: B2I routing, the dynamic interest number, label-aware attention, the loss, bad input."""

import json
import re
import runpy
from pathlib import Path

import pytest
import torch

from recnotes.data import BatchError
from recnotes.data.retrieval import retrieval_synthetic
from recnotes.losses import sampled_softmax
from recnotes.recall import MIND, MINDConfig
from recnotes.recall.mind import interest_counts, label_aware_attention

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data():
    return retrieval_synthetic(num_users=80, num_items=50, max_len=8, seed=1)


def small(data, **kw):
    torch.manual_seed(0)
    config = MINDConfig(embed_dim=8, num_interests=3, hidden=(8,), num_negatives=16, **kw)
    return MIND(data.schema, config)


def rows(data, n=32):
    return {k: v[:n] for k, v in data.train.columns.items()}


# -- routing logits: drawn per sample, never learned or carried over ------------------------------
def test_training_routing_logits_are_fresh_draws_and_no_state_changes(data):
    model = small(data).train()
    batch = rows(data)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    first, _ = model.interests(batch)
    second, _ = model.interests(batch)
    assert not torch.allclose(first, second)  # a new b ~ N(0, sigma^2) on every call
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # routing wrote nothing back
    assert not any("logit" in name for name, _ in model.named_parameters())
    torch.manual_seed(5)
    again, _ = model.interests(batch)
    torch.manual_seed(5)
    torch.testing.assert_close(model.interests(batch)[0], again)  # the draw is the only randomness


def test_serving_is_deterministic_and_per_row(data):
    model = small(data).eval()
    batch = rows(data)
    with torch.no_grad():
        full = model.user_embedding(batch)
        alone = model.user_embedding({k: v[5:6] for k, v in batch.items()})
    torch.testing.assert_close(full[5:6], alone)


def test_zero_init_std_gives_symmetric_interests(data):
    """Why b must start random: with b = 0 and one shared map every interest is the same."""
    model = small(data, routing_init_std=0.0, dynamic_interests=False).eval()
    with torch.no_grad():
        v, _ = model.interests(rows(data))
    torch.testing.assert_close(v[:, 1], v[:, 0])


# -- dynamic number of interests -------------------------------------------------------------------
def test_interest_count_is_log2_of_the_history_length_clamped_to_1_and_k():
    lengths = torch.tensor([0, 1, 2, 3, 4, 7, 8, 15, 16, 40])
    mask = torch.arange(40)[None, :] < lengths[:, None]
    expected = [max(1, min(4, int(torch.tensor(float(max(n, 1))).log2().floor()))) for n in lengths]
    assert interest_counts(mask, 4).tolist() == expected == [1, 1, 1, 1, 2, 2, 3, 3, 4, 4]


def test_inactive_interests_never_win_the_max(data):
    model = small(data).eval()
    batch = rows(data, 64)
    with torch.no_grad():
        v, active = model.interests(batch)
        served = model.user_embedding(batch)
        items = model.item_embedding(data.items)
    assert (~active).any() and active[:, 0].all()
    # the served score of every item is the max over the *active* interests only
    scores = torch.einsum("bkd,nd->bkn", v, items).masked_fill(~active[:, :, None], float("-inf"))
    served_scores = torch.einsum("bkd,nd->bkn", served, items)
    torch.testing.assert_close(served_scores.max(1).values, scores.max(1).values)


# -- label-aware attention -------------------------------------------------------------------------
def test_label_aware_attention_interpolates_between_mean_and_hard_choice():
    v = torch.tensor([[[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]]])
    target = torch.tensor([[0.0, 1.0]])
    active = torch.tensor([[True, True, False]])  # the third interest is inactive: ignored
    mean = label_aware_attention(v, target, active, p=0.0)
    torch.testing.assert_close(mean, torch.tensor([[0.5, 1.0]]))  # p = 0: plain average
    hard = label_aware_attention(v, target, active, p=float("inf"))
    torch.testing.assert_close(hard, torch.tensor([[0.0, 2.0]]))  # p = inf: the closest interest
    soft = label_aware_attention(v, target, active, p=1.0)  # softmax([0, 2])
    w = torch.softmax(torch.tensor([0.0, 2.0]), 0)
    torch.testing.assert_close(soft, (w[:, None] * v[0, :2]).sum(0, keepdim=True))
    sharp = label_aware_attention(v, target, active, p=8.0)
    assert (sharp - hard).norm() < (soft - hard).norm()


def test_loss_is_sampled_softmax_of_the_label_aware_vector(data):
    model = small(data, pow_p=2.0).train()
    batch = rows(data)
    torch.manual_seed(3)
    loss = model.loss(batch)
    torch.manual_seed(3)  # replay: the routing draw, then the negatives
    v, active = model.interests(batch)
    target = model.item_embedding(batch)
    neg = torch.randint(1, data.num_items, (16,))
    user = label_aware_attention(v, target, active, 2.0)
    expected = sampled_softmax(user, target, model.item_embedding({"item_ids": neg}),
                               positive_ids=batch["item_ids"], negative_ids=neg,
                               temperature=0.1)  # fmt: skip
    torch.testing.assert_close(loss, expected)


# -- bad input -------------------------------------------------------------------------------------
def test_bad_batches_raise_a_batch_error_naming_the_feature(data):
    model = small(data)
    batch = rows(data, 4)
    with pytest.raises(BatchError, match="feature 'history_ids': missing"):
        model.user_embedding({k: v for k, v in batch.items() if k != "history_ids"})
    with pytest.raises(BatchError, match="feature 'item_ids'"):
        model.item_embedding({"item_ids": torch.tensor([1, data.num_items])})
    with pytest.raises(BatchError, match="feature 'user_gender'"):
        model.loss(dict(batch, user_gender=batch["user_gender"].float()))
    with pytest.raises(ValueError, match="pow_p must be >= 0"):
        MINDConfig(pow_p=-1.0)
    with pytest.raises(ValueError, match="num_interests must be an integer >= 1"):
        MINDConfig(num_interests=0)


# -- the docs snippet (the learning test) and the benchmark script --------------------------------
def test_try_it_snippet_beats_popularity(capsys):
    """MIND, 2 epochs on the synthetic clicks, retrieves the next item better than popularity."""
    runpy.run_path(str(REPO / "docs" / "snippets" / "mind_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "user vectors: (596, 4, 32), items: (301, 32)" in out
    found = re.findall(r"^(MIND|popularity)\s+HR@10 = ([\d.]+)\s+NDCG@10 = ([\d.]+)", out, re.M)
    scores = {name: (float(hr), float(ndcg)) for name, hr, ndcg in found}
    assert scores["MIND"][0] > scores["popularity"][0] + 0.03, out  # seed 0: 0.525 vs 0.463
    assert scores["MIND"][1] > scores["popularity"][1] + 0.03, out  # 0.394 vs 0.318


def test_benchmark_quick_run_writes_results_for_the_multi_interest_models(tmp_path):
    from importlib import util

    spec = util.spec_from_file_location(
        "recall_benchmark", REPO / "experiments" / "recall_benchmark.py"
    )
    module = util.module_from_spec(spec)
    import sys

    sys.modules["recall_benchmark"] = module
    try:
        spec.loader.exec_module(module)
        paths = module.main(["--model", "mind", "comirec-dr", "comirec-sa", "--quick", "--quiet",
                             "--seeds", "0", "--out", str(tmp_path)])  # fmt: skip
    finally:
        sys.modules.pop("recall_benchmark", None)
    assert [p.name for p in paths] == ["mind.json", "comirec-dr.json", "comirec-sa.json"]
    for path in paths:
        result = json.loads(path.read_text(encoding="utf-8"))
        assert result["dataset"] == "synthetic" and result["seeds"] == [0]
        assert 0.0 <= result["metrics"]["hr@10"] <= 1.0
        assert result["command"].startswith("python experiments/recall_benchmark.py --model")
        assert result["config"]["model"]["num_interests"] == 4
        assert result["commit"] and result["wall_time_s"] > 0


def test_the_profile_leaves_out_the_user_id_unless_asked():
    schema = retrieval_synthetic(num_users=30, num_items=20, max_len=5, seed=0).schema
    small = {"embed_dim": 4, "hidden": (4,), "num_negatives": 4}
    default = MIND(schema, MINDConfig(**small)).profile
    assert "user_ids" not in default and default  # the synthetic users have other attributes
    assert "user_ids" in MIND(schema, MINDConfig(use_user_ids=True, **small)).profile
    assert MIND(schema, MINDConfig(use_profile=False, **small)).profile == []


def test_the_last_layer_is_linear_unless_the_paper_tower_is_asked_for():
    data = retrieval_synthetic(num_users=30, num_items=20, max_len=5, seed=0)
    schema = data.schema
    batch = {k: v[:16] for k, v in data.train.columns.items()}
    small = {"embed_dim": 8, "hidden": (8,), "num_negatives": 4}
    torch.manual_seed(0)
    linear = MIND(schema, MINDConfig(**small)).eval().interests(batch)[0]
    relu = MIND(schema, MINDConfig(linear_output=False, **small)).eval().interests(batch)[0]
    assert (linear < 0).any()  # a linear output reaches the whole space
    assert (relu >= 0).all()  # the paper's all-ReLU tower stays in the non-negative orthant
