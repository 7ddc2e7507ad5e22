"""NCF (GMF, MLP, NeuMF) and its training objective: the equations of the note, learning on the
synthetic data, bad inputs, the try-it snippet and the reproduction script's smoke run.

The contract test (tests/test_contract.py) covers shapes, gradients, determinism, row independence
and the state-dict round trip for all three registered models.
"""

from __future__ import annotations

import importlib.util
import json
import re
import runpy
import sys
from pathlib import Path

import pytest
import torch

from recnotes.data import BatchError, Feature, FeatureTable, Schema, leave_one_out, make_synthetic
from recnotes.evaluate import build_seen, sample_negatives, sampled_ranking
from recnotes.losses import SampledNegativeBCE
from recnotes.recall.ncf import (
    GMF,
    NCFMLP,
    GMFConfig,
    NCFMLPConfig,
    NeuMF,
    NeuMFConfig,
    tower_widths,
)
from recnotes.results import Result
from recnotes.train import TrainConfig, Trainer, seed_everything

REPO = Path(__file__).resolve().parents[2]
SCHEMA = Schema(
    [Feature("user_ids", "sparse", vocab_size=11), Feature("item_ids", "sparse", vocab_size=21)]
)


@pytest.fixture(autouse=True)
def one_thread():
    """These models are small: one thread is fastest, and kind to a shared machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def pairs(n: int = 7, seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        "user_ids": torch.randint(1, 11, (n,), generator=gen),
        "item_ids": torch.randint(1, 21, (n,), generator=gen),
    }


def perturbed(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """Move every parameter away from its initialisation, as training would."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=gen))
    return model.eval()


# -- equations ------------------------------------------------------------------------------------
def test_gmf_with_an_all_ones_output_and_no_bias_is_the_dot_product():
    """Eq. (2) with h = 1, b = 0 is matrix factorisation: z = <p_u, q_i>."""
    model = perturbed(GMF(SCHEMA, GMFConfig(factors=6)), seed=1)
    with torch.no_grad():
        model.output.weight.fill_(1.0)
        model.output.bias.zero_()
    batch = pairs()
    tables = model.gmf.embedding.tables
    p = tables["user_ids"].weight[batch["user_ids"]]
    q = tables["item_ids"].weight[batch["item_ids"]]
    torch.testing.assert_close(model(batch), (p * q).sum(-1))


def test_gmf_user_and_item_embeddings_reproduce_the_logit():
    """GMF is a two-tower model: <[h * p_u ; b], [q_i ; 1]> = h^T (p_u * q_i) + b."""
    model = perturbed(GMF(SCHEMA, GMFConfig(factors=5)), seed=2)
    users = torch.tensor([1, 4, 10])
    items = torch.arange(1, 21)
    u = model.user_embedding({"user_ids": users})  # (3, 6)
    v = model.item_embedding({"item_ids": items})  # (20, 6)
    expected = model.score(users, items.expand(3, -1))
    torch.testing.assert_close(u @ v.T, expected)


def test_mlp_tower_follows_the_predictive_factors_rule():
    """Paper, Sec. 4.1: the last layer has `factors` units, each layer halves (32 -> 16 -> 8)."""
    assert tower_widths(8, 3) == (32, 16, 8)
    assert tower_widths(64, 4) == (512, 256, 128, 64)
    for factors in (8, 64):
        model = NCFMLP(SCHEMA, NCFMLPConfig(factors=factors))
        linears = [m for m in model.mlp.tower.modules() if isinstance(m, torch.nn.Linear)]
        assert [layer.out_features for layer in linears] == [4 * factors, 2 * factors, factors]
        # the input is [p_u ; q_i], each as wide as the first layer (authors' code: 32 for 8 factors)
        assert linears[0].in_features == 8 * factors
        assert model.mlp.embedding.embed_dim == 4 * factors
        assert model.output.in_features == factors
    assert (
        NCFMLP(SCHEMA, NCFMLPConfig(factors=8, embed_dim=16)).mlp.tower.in_dim == 32
    )  # paper's text


def test_neumf_concatenates_gmf_then_mlp():
    """Eq. (4): z = h^T [phi_GMF ; phi_MLP] + b, the GMF half first."""
    model = perturbed(NeuMF(SCHEMA, NeuMFConfig(factors=4, num_layers=2)), seed=3)
    batch = pairs()
    phi_gmf = model.gmf(batch["user_ids"], batch["item_ids"])  # (B, 4)
    phi_mlp = model.mlp(batch["user_ids"], batch["item_ids"])  # (B, 4)
    h, b = model.output.weight[0], model.output.bias
    expected = phi_gmf @ h[:4] + phi_mlp @ h[4:] + b
    torch.testing.assert_close(model(batch), expected)
    swapped = phi_mlp @ h[:4] + phi_gmf @ h[4:] + b
    assert not torch.allclose(model(batch), swapped)


@pytest.mark.parametrize("alpha", [0.5, 0.2])
def test_pretrained_neumf_starts_at_the_alpha_mix_of_gmf_and_mlp(alpha):
    """Eqs. (5)-(6): with h = [a h_GMF ; (1 - a) h_MLP] and b = a b_GMF + (1 - a) b_MLP the first
    NeuMF logit is exactly a z_GMF + (1 - a) z_MLP."""
    gmf = perturbed(GMF(SCHEMA, GMFConfig(factors=4)), seed=4)
    mlp = perturbed(NCFMLP(SCHEMA, NCFMLPConfig(factors=4, num_layers=3)), seed=5)
    neumf = NeuMF.from_pretrained(gmf, mlp, alpha=alpha).eval()
    batch = pairs(n=12)
    with torch.no_grad():
        mixed = alpha * gmf(batch) + (1 - alpha) * mlp(batch)
        torch.testing.assert_close(neumf(batch), mixed)
        users, items = torch.tensor([2, 7]), torch.tensor([[1, 5, 9], [3, 3, 20]])
        torch.testing.assert_close(
            neumf.score(users, items),
            alpha * gmf.score(users, items) + (1 - alpha) * mlp.score(users, items),
        )
    # a copy, not a view: training the NeuMF leaves the pre-trained models alone
    before = gmf.gmf.embedding.tables["user_ids"].weight.clone()
    with torch.no_grad():
        neumf.gmf.embedding.tables["user_ids"].weight.add_(1.0)
    assert torch.equal(gmf.gmf.embedding.tables["user_ids"].weight, before)


def test_from_pretrained_rejects_models_that_do_not_fit():
    gmf = GMF(SCHEMA, GMFConfig(factors=4))
    with pytest.raises(ValueError, match="4 predictive factors and the MLP 8"):
        NeuMF.from_pretrained(gmf, NCFMLP(SCHEMA, NCFMLPConfig(factors=8)))
    with pytest.raises(ValueError, match=r"alpha .* \[0, 1\]"):
        NeuMF.from_pretrained(gmf, NCFMLP(SCHEMA, NCFMLPConfig(factors=4)), alpha=1.5)
    with pytest.raises(TypeError, match="a GMF and an NCFMLP"):
        NeuMF.from_pretrained(NCFMLP(SCHEMA, NCFMLPConfig(factors=4)), gmf)


# -- the sampled log loss -------------------------------------------------------------------------
def test_sampled_negatives_are_never_training_positives_and_are_redrawn_every_call():
    gen = torch.Generator().manual_seed(0)
    # user 1 has seen 45 of the 50 items: almost every uniform draw must be rejected
    users = torch.cat(
        [torch.ones(45, dtype=torch.long), torch.randint(2, 30, (300,), generator=gen)]
    )
    items = torch.cat([torch.arange(1, 46), torch.randint(1, 51, (300,), generator=gen)])
    loss_fn = SampledNegativeBCE(num_items=50, num_negatives=8, seen=(users, items), seed=0)
    positives = set(zip(users.tolist(), items.tolist(), strict=True))
    query = torch.cat([torch.ones(200, dtype=torch.long), torch.arange(2, 30).repeat(10)])
    first = loss_fn.sample(query)
    second = loss_fn.sample(query)
    assert first.shape == (len(query), 8)
    for draw in (first, second):
        assert ((draw >= 1) & (draw <= 50)).all()
        drawn = zip(query.repeat_interleave(8).tolist(), draw.reshape(-1).tolist(), strict=True)
        assert not positives.intersection(drawn)
        assert set(draw[:200].unique().tolist()) <= {46, 47, 48, 49, 50}  # user 1's unseen items
    assert not torch.equal(first, second)  # a new draw on each call, i.e. each epoch
    loss_fn.reset()
    assert torch.equal(loss_fn.sample(query), first)  # seeded: reproducible from the start


def test_sampled_loss_is_the_log_loss_of_positives_and_their_negatives():
    """NCF Eq. (7), averaged: -mean(log s(z_pos)) over B positives and B n negatives."""
    model = perturbed(GMF(SCHEMA, GMFConfig(factors=3)), seed=6)
    batch = pairs(n=5)
    loss_fn = SampledNegativeBCE(
        20, num_negatives=4, seen=(batch["user_ids"], batch["item_ids"]), seed=3
    )
    loss = loss_fn(model, batch)
    loss_fn.reset()
    negatives = loss_fn.sample(batch["user_ids"])  # the same draw the loss made
    z_pos = model(batch)
    z_neg = model.score(batch["user_ids"], negatives)
    by_hand = (
        -(torch.log(torch.sigmoid(z_pos)).sum() + torch.log(1 - torch.sigmoid(z_neg)).sum()) / 25
    )
    torch.testing.assert_close(loss, by_hand)


def test_sampled_loss_refuses_impossible_requests():
    with pytest.raises(ValueError, match="seen all 3 items"):
        SampledNegativeBCE(3, seen=(torch.tensor([1, 1, 1]), torch.tensor([1, 2, 3]))).sample(
            torch.tensor([2, 1])
        )
    with pytest.raises(ValueError, match=r"seen item ids must lie in \[1, 5\]"):
        SampledNegativeBCE(5, seen=(torch.tensor([1]), torch.tensor([0])))
    with pytest.raises(ValueError, match="num_negatives must be an integer >= 1"):
        SampledNegativeBCE(5, num_negatives=0)


# -- learning on the synthetic data ---------------------------------------------------------------
@pytest.fixture(scope="module")
def synthetic():
    """Leave-one-out on the synthetic clicks; each test item against 99 sampled unseen items."""
    data = make_synthetic(seed=0)
    train, _, test = leave_one_out(data.interactions())
    schema = Schema(
        [
            Feature("user_ids", "sparse", vocab_size=data.num_users + 1),
            Feature("item_ids", "sparse", vocab_size=data.num_items + 1),
        ]
    )
    columns = {"user_ids": train["user_id"].to_numpy(), "item_ids": train["item_id"].to_numpy()}
    table = FeatureTable(columns, schema)
    targets = torch.full((data.num_users,), -1)
    targets[test["user_id"].to_numpy() - 1] = torch.tensor(test["item_id"].to_numpy())
    seen = build_seen(table.columns["user_ids"] - 1, table.columns["item_ids"], data.num_users)
    negatives = sample_negatives(
        targets, data.num_items + 1, 99, seen, exclude_items=torch.tensor([0])
    )
    clicks = torch.bincount(table.columns["item_ids"], minlength=data.num_items + 1).float()
    popularity = sampled_ranking(lambda rows, items: clicks[items], targets, negatives, ks=(10,))
    return data, schema, table, targets, negatives, popularity["hr@10"]


@pytest.mark.parametrize(
    ("cls", "config", "epochs"),
    [(GMF, GMFConfig(16), 5), (NCFMLP, NCFMLPConfig(16), 4)],
    ids=["gmf", "ncf-mlp"],
)
def test_learns_to_beat_popularity_on_synthetic_clicks(synthetic, cls, config, epochs):
    """NeuMF's learning test is the try-it snippet's (same data, model and check), below."""
    data, schema, table, targets, negatives, popularity = synthetic
    seed_everything(0)
    model = cls(schema, config)
    loss_fn = SampledNegativeBCE(data.num_items, 4, seen=table, seed=0)
    train = TrainConfig(epochs=epochs, batch_size=1024, lr=0.01, progress=False, device="cpu")
    Trainer(model, train, loss_fn=loss_fn).fit(table)
    user_ids = torch.arange(1, data.num_users + 1)
    model.eval()
    with torch.no_grad():
        result = sampled_ranking(
            lambda r, c: model.score(user_ids[r], c), targets, negatives, ks=(10,)
        )
    # popularity is a strong baseline here (exposure is Zipf-skewed): about 0.66; measured 0.70-0.71
    assert result["hr@10"] > popularity + 0.025, (result["hr@10"], popularity)


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cls", [GMF, NCFMLP, NeuMF])
def test_an_id_outside_the_vocabulary_is_a_batch_error_naming_the_feature(cls):
    model = cls(SCHEMA)
    with pytest.raises(
        BatchError, match=r"feature 'user_ids': id 11 is outside the vocabulary \[0, 11\)"
    ):
        model({"user_ids": torch.tensor([1, 11]), "item_ids": torch.tensor([1, 2])})
    with pytest.raises(BatchError, match="feature 'item_ids': id -1"):
        model.score(torch.tensor([1]), torch.tensor([[3, -1]]))
    with pytest.raises(BatchError, match="feature 'user_ids': id 99"):
        model.user_embedding({"user_ids": torch.tensor([99])})


def test_other_bad_batches_are_batch_errors_too():
    model = NeuMF(SCHEMA)
    with pytest.raises(BatchError, match="feature 'item_ids': missing from the batch"):
        model({"user_ids": torch.tensor([1])})
    with pytest.raises(BatchError, match="feature 'user_ids': ids must be an integer tensor"):
        model({"user_ids": torch.tensor([1.0]), "item_ids": torch.tensor([1])})
    with pytest.raises(
        BatchError, match=r"feature 'item_ids': score expects candidates of shape \(2, C\)"
    ):
        model.score(torch.tensor([1, 2]), torch.tensor([1, 2]))


def test_impossible_configs_and_schemas_are_refused_in_plain_words():
    with pytest.raises(ValueError, match="factors .* must be an integer >= 1, got 0"):
        GMFConfig(factors=0)
    with pytest.raises(ValueError, match="num_layers must be an integer >= 1"):
        NCFMLPConfig(num_layers=0)
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        NeuMFConfig(dropout=1.0)
    with pytest.raises(ValueError, match="needs a sparse feature 'item_ids'"):
        GMF(Schema([Feature("user_ids", "sparse", vocab_size=3)]))


def test_a_missing_dataset_file_is_named(tmp_path, monkeypatch):
    from recnotes.data.datasets import load_ncf_movielens_1m
    from recnotes.data.paths import DataNotFoundError

    monkeypatch.setenv("RECNOTES_DATA", str(tmp_path))
    monkeypatch.setenv("RECNOTES_OFFLINE", "1")
    with pytest.raises(DataNotFoundError, match=r"ml-1m/ratings_no_timestamp\.dat\.gz"):
        load_ncf_movielens_1m()


# -- the docs snippet and the reproduction script -------------------------------------------------
def test_try_it_snippet_runs_and_beats_popularity(capsys):
    """NeuMF (16 factors, 3 epochs) on the synthetic clicks beats popularity, as the note says."""
    runpy.run_path(str(REPO / "docs" / "snippets" / "ncf_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "users ranked: 1995, candidates each: 100" in out
    hr = {
        name: float(v)
        for name, v in re.findall(r"^(NeuMF|popularity)\s+HR@10 = ([\d.]+)", out, re.M)
    }
    assert hr["NeuMF"] > hr["popularity"] + 0.02, out
    top = re.search(r"user 1, top-5 item ids: \[([\d, ]+)\]", out)
    assert top and len(top.group(1).split(",")) == 5


def _experiment(monkeypatch):
    spec = importlib.util.spec_from_file_location("ncf_ml1m", REPO / "experiments" / "ncf_ml1m.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "ncf_ml1m", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_reproduction_script_quick_run_writes_a_complete_result(tmp_path, monkeypatch):
    """--quick: GMF and MLP runs whose checkpoints pre-train a NeuMF, each writing a results file."""
    main = _experiment(monkeypatch).main
    common = ["--quick", "--quiet", "--factors", "4", "--epochs", "1"]
    for model in ("gmf", "mlp"):
        main(
            [
                *common,
                "--model",
                model,
                "--save-dir",
                str(tmp_path / model),
                "--out",
                str(tmp_path / f"{model}.json"),
            ]
        )
    argv = [
        *common,
        "--model",
        "neumf",
        "--pretrain",
        str(tmp_path / "gmf"),
        str(tmp_path / "mlp"),
        "--out",
        str(tmp_path / "neumf.json"),
        "--save-dir",
        str(tmp_path / "neumf"),
    ]
    main(argv)
    for name, model in (("gmf", "gmf"), ("mlp", "ncf-mlp"), ("neumf", "neumf")):
        data = json.loads((tmp_path / f"{name}.json").read_text(encoding="utf-8"))
        result = Result.from_dict(data)  # every required field, nothing unknown
        assert result.model == model and result.dataset == "synthetic"
        assert set(result.metrics) == {"hr@10", "ndcg@10"}
        assert all(0.0 <= v <= 1.0 for v in result.metrics.values())
        assert result.command.startswith("python experiments/ncf_ml1m.py --quick")
        assert result.commit and result.device.startswith("cpu") and result.wall_time_s > 0
        assert result.seeds == [0]
        assert result.config["epochs"] == 1 or name == "neumf"  # NeuMF: checked below
        assert len(result.config["final"]["history_with_test_logged"]) == result.config["epochs"]
    neumf = json.loads((tmp_path / "neumf.json").read_text(encoding="utf-8"))
    assert neumf["config"]["train"]["optimizer"] == "sgd" and neumf["config"]["alpha"] == 0.5
    # the pre-trained start is a candidate "epoch 0" of the selection
    start = neumf["config"]["pretrained_start"]["valid"]
    assert set(start) == {"hr@10", "ndcg@10"} and neumf["config"]["epochs"] in (0, 1)
