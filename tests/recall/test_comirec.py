"""ComiRec-DR and -SA: the extractors' equations, hard readout, the aggregation, learning, bad input."""

import itertools
import re
import runpy
from pathlib import Path

import pytest
import torch

from recnotes.data import BatchError
from recnotes.data.retrieval import retrieval_synthetic
from recnotes.evaluate import full_ranking
from recnotes.index import build_index
from recnotes.layers import squash
from recnotes.recall import ComiRecDR, ComiRecDRConfig, ComiRecSA, ComiRecSAConfig
from recnotes.recall.comirec import aggregate, hard_readout, item_categories
from recnotes.train import TrainConfig, Trainer, seed_everything

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def data():
    return retrieval_synthetic(num_users=80, num_items=50, max_len=8, seed=1)


def rows(data, n=32):
    return {k: v[:n] for k, v in data.train.columns.items()}


# -- the extractors --------------------------------------------------------------------------------
def test_self_attention_is_a_softmax_over_the_behaviours_applied_to_h(data):
    """Eqs. (4)-(5): A = softmax(W2 tanh(W1 (H + P)^T)) over the real behaviours, V = A H."""
    torch.manual_seed(0)
    model = ComiRecSA(data.schema, ComiRecSAConfig(embed_dim=8, num_interests=3)).eval()
    history = rows(data)["history_ids"]
    with torch.no_grad():
        v = model.user_embedding({"history_ids": history})
        h = model.embedding.embed("history_ids", history)  # (B, L, D)
        logits = model.w2.weight @ torch.tanh(
            model.w1.weight @ (h + model.position).transpose(1, 2)
        )
        a = torch.softmax(logits.masked_fill((history == 0)[:, None, :], float("-inf")), dim=-1)
    torch.testing.assert_close(v, a @ h)  # positions steer the attention but are not read out
    assert (history == 0).any()


def test_dynamic_routing_logits_start_at_zero(data):
    """ComiRec-DR with one iteration: b = 0 splits each behaviour evenly, u_k = squash(mean_k W e)."""
    torch.manual_seed(0)
    config = ComiRecDRConfig(embed_dim=8, num_interests=3, routing_iters=1)
    model = ComiRecDR(data.schema, config).eval()
    history = rows(data)["history_ids"]
    with torch.no_grad():
        e = model.embedding.embed("history_ids", history)
        c_hat = torch.einsum("lkde,ble->bkld", model.bilinear, e)
        expected = squash((c_hat * (history != 0)[:, None, :, None]).sum(2) / 3)
        torch.testing.assert_close(model.user_embedding({"history_ids": history}), expected)
    assert model.bilinear.shape == (8, 3, 8, 8)  # one map per (position, interest), unlike MIND


def test_hard_readout_takes_the_interest_closest_to_the_target():
    v = torch.tensor([[[1.0, 0.0], [0.0, 1.0]], [[1.0, 0.0], [0.0, 1.0]]])
    target = torch.tensor([[0.2, 0.9], [3.0, -1.0]])
    torch.testing.assert_close(hard_readout(v, target), torch.tensor([[0.0, 1.0], [1.0, 0.0]]))


# -- the controllable aggregation ------------------------------------------------------------------
def vectors(seed=0, users=6, k=3, n=40, d=5, cats=4):
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(users, k, d, generator=gen), torch.randn(n, d, generator=gen),
            torch.randint(0, cats, (n,), generator=gen))  # fmt: skip


def test_lambda_zero_is_the_plain_multi_interest_merge():
    """Per-interest top-k merged by best score, as the index's search_multi does it."""
    interests, items, cats = vectors()
    exclude = [torch.tensor([0, u + 1]) for u in range(6)]
    ours = aggregate(interests, items, cats, k=7, exclude=exclude)
    scores, ids = build_index(items, kind="exact").search_multi(interests, 7, exclude=exclude)
    assert torch.equal(ours, ids)
    brute = torch.einsum("ukd,nd->ukn", interests, items).max(1).values
    for u in range(6):
        brute[u, exclude[u]] = float("-inf")
    assert torch.equal(ours, brute.topk(7, dim=1).indices)


def test_each_greedy_step_maximises_q_of_the_grown_list():
    """Eq. (8) by brute force: Q(S) = sum f + lam sum_{i, j in S} [cat_i != cat_j]."""
    interests, items, cats = vectors(seed=3, users=1)
    lam, k = 0.3, 6
    chosen = aggregate(interests, items, cats, k=k, lam=lam, per_interest=10)[0].tolist()
    scores = interests[0] @ items.T  # (K, N)
    pool = torch.unique(scores.topk(10, dim=1).indices).tolist()
    f = scores.max(0).values

    def q(s):
        pairs = sum(int(cats[i] != cats[j]) for i, j in itertools.product(s, s))
        return float(f[s].sum()) + lam * pairs

    for step in range(k):
        prefix = chosen[:step]
        best = max((i for i in pool if i not in prefix), key=lambda i: q(prefix + [i]))
        assert q(prefix + [chosen[step]]) == pytest.approx(q(prefix + [best]))
    assert len(set(chosen)) == k


def test_a_large_lambda_fills_the_list_with_distinct_categories_first():
    interests, items, cats = vectors(seed=4, users=3, cats=4)
    plain = aggregate(interests, items, cats, k=8, per_interest=20)
    diverse = aggregate(interests, items, cats, k=8, lam=100.0, per_interest=20)
    for row in diverse:
        assert len(set(cats[row[:4]].tolist())) == 4  # the first four items: four categories
    distinct = (
        [len(set(cats[r].tolist())) for r in plain],
        [len(set(cats[r].tolist())) for r in diverse],
    )
    assert all(a <= b for a, b in zip(*distinct, strict=True))


def test_item_categories_reads_the_datasets_category_features():
    synthetic = retrieval_synthetic(num_users=30, num_items=20, max_len=4)
    assert torch.equal(item_categories(synthetic.items), synthetic.items["item_category"])
    with pytest.raises(ValueError, match="no category feature"):
        item_categories({"item_ids": torch.arange(3)})


# -- learning: ComiRec-DR here, ComiRec-SA in the snippet test below -------------------------------
def test_comirec_dr_beats_popularity_on_the_synthetic_data():
    data = retrieval_synthetic()
    seed_everything(0)
    model = ComiRecDR(data.schema, ComiRecDRConfig(embed_dim=32, num_negatives=256))
    Trainer(model, TrainConfig(epochs=2, batch_size=256, lr=5e-3, progress=False,
                               drop_last=True)).fit(data.train)  # fmt: skip
    model.eval()
    valid = dict(targets=data.valid.targets, seen=data.valid.seen, exclude_items=torch.tensor([0]))
    with torch.no_grad():
        ours = full_ranking(model.user_embedding(data.valid.users), model.item_embedding(data.items),
                            **valid, ks=(10,))  # fmt: skip
    popular = full_ranking(
        torch.ones(len(data.valid), 1), data.item_counts[:, None], **valid, ks=(10,)
    )
    assert ours["hr@10"] > popular["hr@10"] + 0.03, (
        ours["hr@10"],
        popular["hr@10"],
    )  # 0.50 vs 0.43


# -- bad input -------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cls", "config"), [(ComiRecDR, ComiRecDRConfig), (ComiRecSA, ComiRecSAConfig)]
)
def test_bad_batches_raise_a_batch_error_naming_the_feature(data, cls, config):
    model = cls(data.schema, config(embed_dim=8, num_negatives=8))
    batch = rows(data, 4)
    with pytest.raises(BatchError, match="feature 'history_ids': missing"):
        model.user_embedding({"user_ids": batch["user_ids"]})
    too_big = batch["history_ids"].clone()
    too_big[0, -1] = data.num_items
    with pytest.raises(BatchError, match="feature 'history_ids': id"):
        model.loss(dict(batch, history_ids=too_big))
    with pytest.raises(BatchError, match="feature 'item_ids'"):
        model.item_embedding({"item_ids": batch["item_ids"].float()})
    with pytest.raises(ValueError, match="num_interests must be an integer >= 1"):
        config(num_interests=0)


def test_try_it_snippet_beats_popularity_and_lambda_buys_diversity(capsys):
    runpy.run_path(str(REPO / "docs" / "snippets" / "comirec_try.py"), run_name="__main__")
    out = capsys.readouterr().out
    found = re.findall(
        r"^(ComiRec-SA|popularity)\s+HR@10 = ([\d.]+)\s+NDCG@10 = ([\d.]+)", out, re.M
    )
    scores = {name: (float(hr), float(ndcg)) for name, hr, ndcg in found}
    assert scores["ComiRec-SA"][0] > scores["popularity"][0] + 0.03, out  # 0.542 vs 0.463
    assert scores["ComiRec-SA"][1] > scores["popularity"][1] + 0.03, out
    per_list = [float(x) for x in re.findall(r"categories per top-10 list: ([\d.]+)", out)]
    assert len(per_list) == 3 and per_list[0] < per_list[1] <= per_list[2], out
