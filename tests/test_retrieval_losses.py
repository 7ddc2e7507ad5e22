"""The retrieval losses: in-batch softmax with log-Q, sampled softmax, BPR."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from recnotes.losses import bpr, in_batch_softmax, log_q, sampled_softmax


def vectors(seed: int, rows: int = 6, dim: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return torch.randn(rows, dim, generator=gen), torch.randn(rows, dim, generator=gen)


def test_in_batch_softmax_is_cross_entropy_over_the_batch():
    user, item = vectors(0)
    ids = torch.arange(1, 7)
    expected = F.cross_entropy(user @ item.T / 0.5, torch.arange(6))
    torch.testing.assert_close(in_batch_softmax(user, item, ids, temperature=0.5), expected)


def test_log_q_correction_subtracts_log_probability_per_column():
    user, item = vectors(1)
    ids = torch.arange(1, 7)
    q = torch.tensor([0.1, 0.2, 0.05, 0.3, 0.15, 0.2])
    logits = user @ item.T - q.log()[None, :]  # Yi et al. 2019, Eq. (3)
    expected = F.cross_entropy(logits, torch.arange(6))
    got = in_batch_softmax(user, item, ids, item_log_q=q.log())
    torch.testing.assert_close(got, expected)
    # the same probability for every item shifts every logit alike: nothing changes
    same = in_batch_softmax(user, item, ids, item_log_q=torch.full((6,), -3.0))
    torch.testing.assert_close(same, in_batch_softmax(user, item, ids))


def test_accidental_hits_are_masked():
    user, item = vectors(2)
    ids = torch.tensor([1, 2, 1, 3, 4, 5])  # rows 0 and 2 share their positive item
    logits = user @ item.T
    logits[0, 2] = logits[2, 0] = float("-inf")
    expected = F.cross_entropy(logits, torch.arange(6))
    torch.testing.assert_close(in_batch_softmax(user, item, ids), expected)


def test_log_q_from_counts():
    lq = log_q(torch.tensor([0.0, 2.0, 6.0]))
    torch.testing.assert_close(lq[1:].exp(), torch.tensor([0.25, 0.75]))
    assert torch.isfinite(lq[0])  # an unseen (padding) item gets a finite value
    with pytest.raises(ValueError, match="no positive count"):
        log_q(torch.zeros(3))


def test_sampled_softmax_with_every_item_is_full_softmax():
    user, _ = vectors(3, rows=5)
    catalogue = torch.randn(8, 4, generator=torch.Generator().manual_seed(4))
    targets = torch.tensor([0, 3, 3, 7, 5])
    full = F.cross_entropy(user @ catalogue.T, targets)
    got = sampled_softmax(
        user, catalogue[targets], catalogue,
        positive_ids=targets, negative_ids=torch.arange(8),
    )  # fmt: skip
    torch.testing.assert_close(got, full)


def test_bpr_is_log_sigmoid_of_the_margin():
    pos, neg = torch.tensor([2.0, -1.0]), torch.tensor([[0.5, 1.0], [0.0, -3.0]])
    expected = -F.logsigmoid(pos[:, None] - neg).mean()
    torch.testing.assert_close(bpr(pos, neg), expected)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda u, i: in_batch_softmax(u, i[:3], torch.arange(6)), "same number of rows"),
        (lambda u, i: in_batch_softmax(u, i, torch.arange(6), temperature=0.0), "temperature"),
        (lambda u, i: in_batch_softmax(u, i[:, :2], torch.arange(6)), "same D"),
        (lambda u, i: bpr(u[:, 0], u[:3, 0]), "share B"),
    ],
)
def test_bad_shapes_are_named(call, message):
    user, item = vectors(5)
    with pytest.raises(ValueError, match=message):
        call(user, item)
