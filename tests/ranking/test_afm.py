"""AFM: the pair-wise interaction layer, attention weights that sum to one, the logit against the
formula on a hand-sized example, the L2 penalty, learning on synthetic clicks, bad input and the
try-it snippet.

The contract test (tests/test_contract.py) covers shapes, gradients, determinism, row independence
and the state_dict round trip; this file checks what is particular to this model.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pytest
import torch

from recnotes.data import BatchError, Feature, Schema, tiny_ctr_batch
from recnotes.evaluate import evaluate_ctr
from recnotes.ranking import AFM, AFMConfig
from recnotes.ranking.afm import afm_loss, pair_scores, tiny_afm
from recnotes.train import TrainConfig, Trainer, seed_everything

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def one_thread():
    """Small batches train several times faster on one thread when other processes share the CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# -- Eq. (3): pair-wise interaction layer ---------------------------------------------------------
def test_pairwise_layer_holds_every_pair_in_row_major_order():
    model, batch = tiny_afm()
    with torch.no_grad():
        v = model.field_vectors(batch)  # (6, 5, 4)
        products = model.pairwise(batch)
    expected = [v[:, i] * v[:, j] for i in range(5) for j in range(i + 1, 5)]
    assert products.shape == (6, 10, 4)
    torch.testing.assert_close(products, torch.stack(expected, dim=1))


# -- Eqs. (4)-(5): attention ----------------------------------------------------------------------
def test_attention_weights_are_positive_and_sum_to_one_over_the_pairs():
    model, batch = tiny_afm()
    model.eval()
    with torch.no_grad():
        a = model.attention(batch)
    assert a.shape == (6, 10) and bool((a > 0).all())
    torch.testing.assert_close(a.sum(dim=1), torch.ones(6))
    assert not torch.allclose(a, torch.full_like(a, 0.1))  # the weights differ between pairs


def test_the_logit_equals_the_formula_on_a_hand_sized_example():
    """Three one-hot fields, D = 2, T = 2: every weight set by hand, Eq. (6) computed in Python."""
    schema = Schema([Feature(n, "sparse", vocab_size=2) for n in "abc"])
    model = AFM(schema, AFMConfig(embed_dim=2, attention_dim=2, dropout=0.0))
    v = {"a": [1.0, 2.0], "b": [0.5, -1.0], "c": [-2.0, 1.0]}
    W, b, h, p = [[1.0, 0.0], [1.0, -1.0]], [0.0, 0.5], [1.0, -2.0], [2.0, 1.0]
    w0, w = 0.25, {"a": 0.5, "b": -1.0, "c": 2.0}
    with torch.no_grad():
        for name in "abc":
            model.embedding.tables[name].weight[1] = torch.tensor(v[name])
            model.linear.weights[name].weight[1] = w[name]
        model.linear.bias.fill_(w0)
        model.attention_in.weight.copy_(torch.tensor(W))
        model.attention_in.bias.copy_(torch.tensor(b))
        model.attention_out.weight.copy_(torch.tensor([h]))
        model.projection.weight.copy_(torch.tensor([p]))
    model.eval()
    batch = {n: torch.tensor([1]) for n in "abc"}

    import math

    pairs = [("a", "b"), ("a", "c"), ("b", "c")]
    products = [[v[i][k] * v[j][k] for k in range(2)] for i, j in pairs]
    scores = []
    for e in products:
        hidden = [max(0.0, sum(W[t][k] * e[k] for k in range(2)) + b[t]) for t in range(2)]
        scores.append(sum(h[t] * hidden[t] for t in range(2)))
    weights = [math.exp(s) / sum(math.exp(x) for x in scores) for s in scores]
    pooled = [sum(a * e[k] for a, e in zip(weights, products)) for k in range(2)]
    logit = w0 + sum(w.values()) + sum(p[k] * pooled[k] for k in range(2))
    with torch.no_grad():
        assert model.attention(batch)[0].tolist() == pytest.approx(weights, rel=1e-6)
        assert model(batch).item() == pytest.approx(logit, rel=1e-6)


def test_uniform_attention_and_p_of_ones_give_fm_over_the_number_of_pairs():
    """With h = 0 every pair gets 1/P, so the second-order term is FM's sum divided by P."""
    model, batch = tiny_afm()
    model = AFM(model.schema, AFMConfig(embed_dim=4, attention_dim=3, dropout=0.0))
    model.eval()
    with torch.no_grad():
        model.attention_out.weight.zero_()
        v = model.field_vectors(batch)
        fm = sum((v[:, i] * v[:, j]).sum(-1) for i in range(5) for j in range(i + 1, 5))
        torch.testing.assert_close(model(batch), model.linear(batch) + fm / 10)


# -- Eq. (7): L2 on the attention matrix ----------------------------------------------------------
def test_regularization_is_lambda_times_the_squared_norm_of_w_only():
    model, batch = tiny_afm()
    model = AFM(model.schema, AFMConfig(embed_dim=4, attention_dim=3, attention_l2=0.5))
    W = model.attention_in.weight.detach()
    assert model.regularization().detach().item() == pytest.approx(
        0.5 * float((W**2).sum()), rel=1e-6
    )
    model.regularization().backward()
    grads = {
        n for n, p in model.named_parameters() if p.grad is not None and p.grad.abs().sum() > 0
    }
    assert grads == {"attention_in.weight"}
    model.eval()
    with torch.no_grad():
        bce = torch.nn.functional.binary_cross_entropy_with_logits(model(batch), batch["label"])
        torch.testing.assert_close(afm_loss(model, batch), bce + model.regularization())


# -- learning -------------------------------------------------------------------------------------
def test_learns_synthetic_clicks_better_than_item_popularity():
    """The synthetic CTR task is make_synthetic(seed=0).ctr_table() with label click, split 80/10/10."""
    from recnotes.tasks import get_task

    data = get_task("synthetic").build(0)
    seed_everything(0)
    model = AFM(data.schema, AFMConfig(embed_dim=16, attention_dim=8, dropout=0.0))
    config = TrainConfig(epochs=1, batch_size=2048, lr=1e-2, label="click", progress=False)
    Trainer(model, config, loss_fn=lambda m, b: afm_loss(m, b, "click")).fit(data.train)
    model.eval()
    with torch.no_grad():
        ours = evaluate_ctr(model(data.test[:]), data.test.columns["click"])["auc"]
    items, clicks = data.train.columns["item_ids"], data.train.columns["click"]
    size = data.schema["item_ids"].vocab_size
    shown = torch.bincount(items, minlength=size).float()
    item_ctr = (torch.bincount(items, weights=clicks, minlength=size) + 1) / (shown + 2)
    popularity = evaluate_ctr(item_ctr[data.test.columns["item_ids"]], data.test.columns["click"])
    assert popularity["auc"] > 0.6  # the baseline itself is informative
    assert ours > popularity["auc"] + 0.02, (ours, popularity["auc"])  # measured: 0.750 vs 0.721


# -- bad input ------------------------------------------------------------------------------------
def test_a_missing_feature_is_named():
    model, batch = tiny_afm()
    del batch["context"]
    with pytest.raises(BatchError, match="'context': missing") as err:
        model.attention(batch)
    assert err.value.feature == "context"


@pytest.mark.parametrize(("feature", "value"), [("item_ids", 9), ("history_ids", 100)])
def test_an_id_outside_the_vocabulary_is_named(feature, value):
    model, batch = tiny_afm()
    batch[feature] = batch[feature].clone()
    batch[feature].view(-1)[3] = value
    with pytest.raises(BatchError, match="outside the vocabulary") as err:
        model(batch)
    assert err.value.feature == feature


def test_config_and_schema_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="attention_dim must be at least 1"):
        AFMConfig(attention_dim=0)
    with pytest.raises(ValueError, match="attention_dropout is a probability"):
        AFMConfig(attention_dropout=1.0)
    with pytest.raises(ValueError, match="needs at least two"):
        AFM(Schema([Feature("price", "dense"), Feature("label", "label")]))


# -- the snippet ----------------------------------------------------------------------------------
def test_try_it_snippet_runs_and_beats_popularity(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "afm_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    ours = float(out.split("AFM             test AUC ")[1].split()[0])
    popularity = float(out.split("item popularity test AUC ")[1].split()[0])
    assert "pairs: 66" in out  # 12 fields
    assert ours > popularity + 0.02, out
    assert "beats popularity: True" in out
    top = out.split("heaviest pairs:")[1].strip().splitlines()[:3]
    assert len(top) == 3 and all(" x " in line for line in top)


@pytest.mark.parametrize("D, T", [(3, 5), (6, 2), (4, 4)])  # both GEMM layouts of the backward
def test_pair_scores_gradients_equal_autograd_of_the_formula(D, T):
    """The hand-written backward of h^T ReLU(W x + b) matches autograd (double precision)."""
    torch.manual_seed(0)
    x, W = torch.randn(7, D, dtype=torch.float64), torch.randn(T, D, dtype=torch.float64)
    b, h = torch.randn(T, dtype=torch.float64), torch.randn(T, dtype=torch.float64)
    inputs = [t.requires_grad_() for t in (x, W, b, h)]
    assert torch.autograd.gradcheck(pair_scores, inputs)
    (torch.relu(x @ W.T + b) @ h).pow(2).sum().backward()
    expected = [t.grad.clone() for t in inputs]
    for t in inputs:
        t.grad = None
    pair_scores(*inputs).pow(2).sum().backward()
    for got, want in zip((t.grad for t in inputs), expected, strict=True):
        torch.testing.assert_close(got, want)


def test_pair_scores_second_backward_gives_the_same_gradients():
    """The first backward overwrites the saved activations; a retained second one recomputes them."""
    x, W, b, h = (torch.randn(*s, requires_grad=True) for s in ((4, 3), (2, 3), (2,), (2,)))
    out = pair_scores(x, W, b, h).sum()
    first = torch.autograd.grad(out, (x, W, b, h), retain_graph=True)
    second = torch.autograd.grad(out, (x, W, b, h))
    for a, c in zip(first, second, strict=True):
        torch.testing.assert_close(a, c)


def test_xavier_init_is_fuxictr_scheme_and_a_bad_scheme_is_named():
    schema, _ = tiny_ctr_batch()
    model = AFM(schema, AFMConfig(embed_dim=4, attention_dim=3, init="xavier"))
    assert torch.count_nonzero(model.attention_in.bias) == 0
    assert not torch.equal(model.projection.weight, torch.ones_like(model.projection.weight))
    authors = AFM(schema, AFMConfig(embed_dim=4, attention_dim=3))
    assert torch.equal(authors.projection.weight, torch.ones_like(authors.projection.weight))
    with pytest.raises(ValueError, match="init must be 'authors' or 'xavier'"):
        AFMConfig(init="kaiming")
