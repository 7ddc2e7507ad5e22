"""DCN-V2 and DCN-Mix: the equations of their note, the stacked and parallel wiring, learning on
synthetic clicks, bad input and the try-it snippet.

The contract test (tests/test_contract.py) covers shapes, gradients, determinism, row independence
and the state_dict round trip for both registry names (dcn-v2 and dcn-mix).
"""

from __future__ import annotations

import ast
import runpy
from pathlib import Path

import pytest
import torch

from recnotes import registry
from recnotes.data import BatchError, Feature, Schema
from recnotes.evaluate import evaluate_ctr
from recnotes.ranking import DCNMixConfig, DCNv2, DCNv2Config
from recnotes.ranking.dcn_v2 import CrossLayerV2, LowRankMixtureLayer, tiny_dcn_v2
from recnotes.train import TrainConfig, Trainer, seed_everything

REPO = Path(__file__).resolve().parents[2]
X0 = torch.tensor([[1.0, 2.0]])
X = torch.tensor([[3.0, -1.0]])


# -- Eqs. (2)-(3): the cross layer ----------------------------------------------------------------
def test_one_full_rank_cross_layer_on_a_worked_example():
    layer = CrossLayerV2(2)
    with torch.no_grad():
        layer.project.weight.copy_(torch.tensor([[1.0, 0.0], [2.0, 1.0]]))
        layer.project.bias.copy_(torch.tensor([0.5, -1.0]))
    # By hand: W x = [3, 2 * 3 - 1] = [3, 5]; + b = [3.5, 4]; x0 * (.) = [3.5, 8]; + x = [6.5, 7].
    torch.testing.assert_close(layer(X0, X), torch.tensor([[6.5, 7.0]]))


def test_a_low_rank_cross_layer_is_the_full_layer_with_w_equal_to_u_v_transposed():
    torch.manual_seed(0)
    low = CrossLayerV2(6, low_rank=2)
    v_t, u = low.project[0].weight, low.project[1].weight  # V^T: (2, 6), U: (6, 2)
    full = CrossLayerV2(6)
    with torch.no_grad():
        full.project.weight.copy_(u @ v_t)
        full.project.bias.copy_(low.project[1].bias)
    x0, x = torch.randn(2, 4, 6).unbind(0)
    with torch.no_grad():
        torch.testing.assert_close(low(x0, x), full(x0, x))
        torch.testing.assert_close(low(x0, x), x0 * (x @ (u @ v_t).T + low.project[1].bias) + x)


# -- Eqs. (4)-(6): the mixture of low-rank experts ------------------------------------------------
def _worked_mixture() -> LowRankMixtureLayer:
    layer = LowRankMixtureLayer(dim=2, low_rank=1, num_experts=2, activation="relu")
    with torch.no_grad():
        layer.V.copy_(torch.tensor([[[1.0], [1.0]], [[-1.0], [0.0]]]))  # V_1, V_2: (2, 1)
        layer.C.copy_(torch.tensor([[[1.5]], [[4.0]]]))  # C_1, C_2: (1, 1)
        layer.U.copy_(torch.tensor([[[1.0], [-1.0]], [[2.0], [2.0]]]))  # U_1, U_2: (2, 1)
        layer.bias.copy_(torch.tensor([0.5, 0.5]))
        layer.gate.weight.zero_()  # equal logits: each gate is 1/2
    return layer


def test_a_low_rank_expert_on_a_worked_example():
    layer = _worked_mixture()
    # Expert 1: V^T x = 3 - 1 = 2, relu -> 2; C: 1.5 * 2 = 3, relu -> 3; U: [3, -3]; + b = [3.5, -2.5];
    # x0 * (.) = [3.5, -5]; the layer adds x: [6.5, -6].
    # Expert 2: V^T x = -3, relu -> 0, so U g(C g(.)) = 0; x0 * b = [0.5, 1.0]; + x = [3.5, 0].
    with torch.no_grad():
        experts = layer.experts(X0, X) + X.unsqueeze(1)
    torch.testing.assert_close(experts, torch.tensor([[[6.5, -6.0], [3.5, 0.0]]]))
    # Gates of 1/2 each: 0.5 * [3.5, -5] + 0.5 * [0.5, 1.0] + x = [5.0, -3.0].
    torch.testing.assert_close(layer(X0, X).detach(), torch.tensor([[5.0, -3.0]]))


def test_each_expert_equals_its_formula_on_random_input():
    torch.manual_seed(0)
    layer = LowRankMixtureLayer(dim=6, low_rank=3, num_experts=4, activation="tanh")
    with torch.no_grad():
        layer.bias.normal_()
    x0, x = torch.randn(2, 5, 6).unbind(0)
    with torch.no_grad():
        got = layer.experts(x0, x)
        gates = layer.gates(x)
        for i in range(4):
            v, c, u = layer.V[i], layer.C[i], layer.U[i]  # (d, r), (r, r), (d, r)
            want = x0 * (torch.tanh(torch.tanh(x @ v) @ c.T) @ u.T + layer.bias)  # row vectors
            torch.testing.assert_close(got[:, i], want)
        mixed = sum(gates[:, i : i + 1] * got[:, i] for i in range(4)) + x
        torch.testing.assert_close(layer(x0, x), mixed)


def test_gates_are_positive_sum_to_one_and_depend_on_the_input():
    torch.manual_seed(0)
    layer = LowRankMixtureLayer(dim=8, low_rank=2, num_experts=5)
    x = torch.randn(16, 8) * 3
    gates = layer.gates(x).detach()
    assert gates.shape == (16, 5) and bool((gates > 0).all())
    torch.testing.assert_close(gates.sum(dim=1), torch.ones(16))
    assert float((gates - gates.mean(0)).abs().max()) > 0.05  # not one fixed mixture for all rows


# -- Eqs. (7)-(8): stacked vs parallel ------------------------------------------------------------
def _captured_deep_input(model: DCNv2, batch: dict) -> torch.Tensor:
    seen = []
    handle = model.deep.register_forward_hook(lambda mod, args, out: seen.append(args[0]))
    with torch.no_grad():
        model(batch)
    handle.remove()
    return seen[0]


def test_stacked_the_deep_network_reads_the_cross_output_and_the_output_layer_reads_the_deep():
    model, batch = tiny_dcn_v2()  # stacked, hidden (8, 4)
    model.eval()
    assert model.output.in_features == 4
    with torch.no_grad():
        x0 = model.stack(batch)
        x_cross = model.cross_network(x0)
        torch.testing.assert_close(_captured_deep_input(model, batch), x_cross)
        torch.testing.assert_close(model(batch), model.output(model.deep(x_cross)).squeeze(-1))


def test_parallel_both_networks_read_x0_and_the_output_layer_reads_their_concatenation():
    model, batch = tiny_dcn_v2()
    config = DCNv2Config(embed_dim=4, num_cross_layers=2, structure="parallel", hidden=(8, 4))
    model = DCNv2(model.schema, config)
    model.eval()
    assert model.output.in_features == model.input_dim + 4
    with torch.no_grad():
        x0 = model.stack(batch)
        torch.testing.assert_close(_captured_deep_input(model, batch), x0)
        joined = torch.cat([model.cross_network(x0), model.deep(x0)], dim=1)
        torch.testing.assert_close(model(batch), model.output(joined).squeeze(-1))


def test_the_cross_network_alone_feeds_the_output_layer():
    model, batch = tiny_dcn_v2()
    model = DCNv2(model.schema, DCNv2Config(embed_dim=4, num_cross_layers=2, hidden=()))
    model.eval()
    with torch.no_grad():
        want = model.output(model.cross_network(model.stack(batch))).squeeze(-1)
        torch.testing.assert_close(model(batch), want)


def test_dcn_mix_is_the_same_class_with_a_mixture_in_every_layer():
    spec = registry.get("dcn-mix")
    assert spec.cls is DCNv2 and spec.config_cls is DCNMixConfig
    model, _ = spec.tiny()
    assert all(isinstance(layer, LowRankMixtureLayer) for layer in model.cross)
    plain, _ = registry.get("dcn-v2").tiny()
    assert all(isinstance(layer, CrossLayerV2) for layer in plain.cross)


# -- learning -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "config",
    [
        DCNv2Config(embed_dim=16, num_cross_layers=2, hidden=(64,)),
        DCNMixConfig(
            embed_dim=16, num_cross_layers=2, low_rank=8, structure="parallel", hidden=(64,)
        ),
    ],
    ids=["dcn-v2-stacked", "dcn-mix-parallel"],
)
def test_learns_synthetic_clicks_better_than_item_popularity(config):
    """The synthetic CTR task is make_synthetic(seed=0).ctr_table() with label click, split 80/10/10."""
    from recnotes.tasks import get_task

    data = get_task("synthetic").build(0)
    seed_everything(0)
    model = DCNv2(data.schema, config)
    train = TrainConfig(epochs=2, batch_size=2048, lr=5e-3, label="click", progress=False)
    Trainer(model, train).fit(data.train)
    model.eval()
    with torch.no_grad():
        ours = evaluate_ctr(model(data.test[:]), data.test.columns["click"])["auc"]
    items, clicks = data.train.columns["item_ids"], data.train.columns["click"]
    size = data.schema["item_ids"].vocab_size
    shown = torch.bincount(items, minlength=size).float()
    item_ctr = (torch.bincount(items, weights=clicks, minlength=size) + 1) / (shown + 2)
    test_items = data.test.columns["item_ids"]
    popularity = evaluate_ctr(item_ctr[test_items], data.test.columns["click"])["auc"]
    assert popularity > 0.6  # the baseline itself is informative, so beating it means something
    assert ours > popularity + 0.03, (ours, popularity)


# -- bad input ------------------------------------------------------------------------------------
def test_a_missing_feature_is_named():
    model, batch = tiny_dcn_v2()
    del batch["item_ids"]
    with pytest.raises(BatchError, match="'item_ids': missing") as err:
        model(batch)
    assert err.value.feature == "item_ids"


@pytest.mark.parametrize(
    ("feature", "value"), [("item_ids", 9), ("user_ids", -1), ("history_ids", 12)]
)
def test_an_id_outside_the_vocabulary_is_named(feature, value):
    model, batch = registry.get("dcn-mix").tiny()
    batch[feature] = batch[feature].clone()
    batch[feature].view(-1)[2] = value
    with pytest.raises(BatchError, match="outside the vocabulary") as err:
        model(batch)
    assert err.value.feature == feature


def test_config_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="needs low-rank experts"):
        DCNv2Config(num_experts=4)
    with pytest.raises(ValueError, match="structure must be 'stacked'"):
        DCNv2Config(structure="serial")
    with pytest.raises(ValueError, match="low_rank must be 0"):
        DCNv2Config(low_rank=-2)
    with pytest.raises(ValueError, match="expert_activation"):
        DCNMixConfig(expert_activation="swish")
    with pytest.raises(ValueError, match="cross network or a deep network"):
        DCNv2Config(num_cross_layers=0, hidden=())
    with pytest.raises(ValueError, match="at least one sparse or sequence feature"):
        DCNv2(Schema([Feature("price", "dense"), Feature("label", "label")]))
    assert DCNMixConfig(hidden=[8]).hidden == (8,)  # lists from JSON configs


# -- the snippet ----------------------------------------------------------------------------------
def test_try_it_snippet_runs_and_beats_popularity(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "dcn_v2_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    popularity = float(out.split("item popularity test AUC ")[1].split()[0])
    for name in ("DCN-V2", "DCN-Mix"):
        auc = float(out.split(f"{name:<15} test AUC ")[1].split()[0])
        assert auc > popularity + 0.02, out
    d = 11 * 16 + 1
    assert f"DCN-V2: x_0 width {d}, cross network parameters {2 * (d * d + d)}" in out
    gates = ast.literal_eval(out.split("mean gate per expert: ")[1].splitlines()[0])
    assert len(gates) == 4 and abs(sum(gates) - 1) < 0.03
    assert "both beat popularity: True" in out
