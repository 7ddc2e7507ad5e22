"""HSTU: the layer equals its equations, causality, padding, the time bias, learning, bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recnotes.data import BatchError
from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.generative.hstu import HSTU, HSTUConfig, HSTULayer
from recnotes.train import TrainConfig, Trainer


@pytest.fixture(scope="module")
def data():
    return retrieval_synthetic(num_users=600, num_items=300, max_len=20, seed=0)


def model_for(data, **config) -> HSTU:
    torch.manual_seed(0)
    return HSTU(data.schema, HSTUConfig(embed_dim=16, num_heads=2, **config)).eval()


def test_a_layer_is_its_three_equations_written_as_loops():
    torch.manual_seed(0)
    config = HSTUConfig(embed_dim=6, num_heads=2, attention_dim=2, value_dim=3, dropout=0.0)
    layer = HSTULayer(config, max_len=4).eval()
    with torch.no_grad():
        layer.bias.position.copy_(torch.tensor([0.3, -0.2, 0.1, 0.05]))
    x = torch.randn(1, 4, 6)
    keys = torch.ones(4, 4).tril().unsqueeze(0)
    keys[0, :, 0] = 0  # position 0 is padding: never a key
    with torch.no_grad():
        got = layer(x, keys)[0]
        uvqk = F.silu(layer.f1(layer.input_norm(x[0])))  # Eq. (1)
        u, v, q, k = uvqk[:, :6], uvqk[:, 6:12], uvqk[:, 12:16], uvqk[:, 16:20]
        rows = []
        for i in range(4):
            heads = []
            for h in range(2):
                acc = torch.zeros(3)
                for j in range(4):
                    if keys[0, i, j]:
                        s = q[i, 2 * h : 2 * h + 2] @ k[j, 2 * h : 2 * h + 2]
                        s = s + layer.bias.position[i - j]
                        acc += F.silu(s) / 4 * v[j, 3 * h : 3 * h + 3]  # Eq. (2), pointwise, / L
                heads.append(acc)
            rows.append(torch.cat(heads))
        attended = torch.stack(rows)
        expected = x[0] + layer.f2(layer.attention_norm(attended) * u)  # Eq. (3) + residual
    torch.testing.assert_close(got, expected)


def test_position_t_sees_nothing_after_t(data):
    model = model_for(data)
    history = data.test.users["history_ids"][:8].clone()
    changed = history.clone()
    changed[:, 12:] = torch.randint(1, 300, changed[:, 12:].shape)
    with torch.no_grad():
        before, after = model.sequence_output(history), model.sequence_output(changed)
    torch.testing.assert_close(before[:, :12], after[:, :12])
    assert not torch.allclose(before[:, 12:], after[:, 12:])


def test_padding_is_invisible(data):
    model = model_for(data)
    with torch.no_grad():
        a = model.user_embedding({"history_ids": torch.tensor([[0, 0, 4, 9, 7]])})
        b = model.user_embedding({"history_ids": torch.tensor([[0] * 9 + [4, 9, 7]])})
        out = model.sequence_output(torch.tensor([[0] * 9 + [4, 9, 7]]))
    torch.testing.assert_close(a, b)  # weights are divided by the model's L, not the row's
    assert torch.all(out[0, :9] == 0)


def test_time_bias_uses_the_gap_and_needs_the_option(data):
    model = model_for(data, time_bias=True)
    history = torch.tensor([[3, 8, 5]])
    with torch.no_grad():
        model.layers[0].bias.time.copy_(torch.linspace(-2, 2, model.config.num_time_buckets + 1))
        near = model.user_embedding({"history_ids": history,
                                     "history_times": torch.tensor([[0, 10, 20]])})  # fmt: skip
        far = model.user_embedding({"history_ids": history,
                                    "history_times": torch.tensor([[0, 10**6, 2 * 10**6]])})  # fmt: skip
    assert not torch.allclose(near, far)
    plain = model_for(data)
    with pytest.raises(BatchError, match="history_times"):
        plain.user_embedding({"history_ids": history, "history_times": torch.tensor([[0, 1, 2]])})


def test_learns_beyond_popularity(data):
    torch.manual_seed(0)
    model = HSTU(data.schema, HSTUConfig(embed_dim=32, dropout=0.2))
    Trainer(model, TrainConfig(epochs=5, batch_size=64, lr=3e-3, progress=False,
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
        model.user_embedding({"item_ids": torch.tensor([1])})
    with pytest.raises(BatchError, match="history_ids"):
        model.user_embedding({"history_ids": torch.tensor([[0, 999]])})
    with pytest.raises(BatchError, match="target_ids"):
        model.loss({"history_ids": torch.tensor([[1, 2]]), "target_ids": torch.tensor([[0, 0]])})
    with pytest.raises(ValueError, match="temperature"):
        HSTUConfig(temperature=0.0)
