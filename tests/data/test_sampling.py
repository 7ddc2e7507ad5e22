"""Negative samplers: distributions, exclusion of seen items, determinism, errors."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from scipy.stats import chisquare

from recnotes.data.sampling import (
    FixedNegatives,
    PopularityNegativeSampler,
    SamplingError,
    SeenItems,
    UniformNegativeSampler,
    read_ncf_negatives,
)


def random_seen(num_users: int, num_items: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(0, num_items - 1, size=num_users)  # from none to all but one item
    users = np.repeat(np.arange(num_users), sizes)
    items = np.concatenate([rng.choice(num_items, size=s, replace=False) for s in sizes])
    return users, items


# -- SeenItems ---------------------------------------------------------------------------------------
def test_seen_items_csr_matches_the_pairs():
    users, items = random_seen(50, 30)
    seen = SeenItems.from_pairs(np.concatenate([users, users]), np.concatenate([items, items]), 30)
    for u in range(50):
        row = seen.indices[seen.indptr[u] : seen.indptr[u + 1]]
        assert row.tolist() == sorted(set(items[users == u].tolist()))
    grid_u, grid_i = np.meshgrid(np.arange(52), np.arange(30), indexing="ij")
    truth = np.zeros((52, 30), dtype=bool)
    truth[users, items] = True
    assert np.array_equal(seen.contains(grid_u, grid_i), truth)  # users 50, 51 are unknown


def test_seen_items_rejects_bad_ids():
    with pytest.raises(SamplingError, match=r"item ids must lie in \[1, 6\)"):
        SeenItems.from_pairs([0, 1], [1, 6], 5, first_id=1)
    with pytest.raises(SamplingError, match="user ids must be >= 0"):
        SeenItems.from_pairs([-1], [0], 5)
    with pytest.raises(SamplingError, match="differ in length"):
        SeenItems.from_pairs([0, 1], [0], 5)


# -- uniform -----------------------------------------------------------------------------------------
def test_uniform_is_uniform_and_in_range():
    sampler = UniformNegativeSampler(20, first_id=1, seed=0)
    draws = sampler.sample(np.zeros(4000, dtype=np.int64), 5)
    assert draws.shape == (4000, 5) and draws.dtype == np.int64
    assert draws.min() >= 1 and draws.max() <= 20
    counts = np.bincount(draws.ravel() - 1, minlength=20)
    assert chisquare(counts).pvalue > 1e-3


def test_uniform_excludes_seen_items_exactly():
    users, items = random_seen(200, 40, seed=1)
    seen = SeenItems.from_pairs(users, items, 40)
    sampler = UniformNegativeSampler(40, seen=seen, first_id=0, seed=2)
    query = np.repeat(np.arange(200), 50)
    draws = sampler.sample(query, 4)
    assert not seen.contains(query[:, None], draws).any()
    # every unseen item of a user is reachable, and nothing else
    for u in (0, 7, 42, 199):
        got = set(np.unique(draws[query == u]).tolist())
        unseen = set(range(40)) - set(items[users == u].tolist())
        assert got <= unseen
        if len(unseen) <= 10:
            assert got == unseen


def test_uniform_over_unseen_items_is_uniform():
    seen = SeenItems.from_pairs([0] * 6, [0, 1, 2, 5, 8, 9], 12)
    draws = UniformNegativeSampler(12, seen=seen, seed=5).sample(np.zeros(6000, dtype=np.int64), 1)
    values, counts = np.unique(draws, return_counts=True)
    assert values.tolist() == [3, 4, 6, 7, 10, 11]
    assert chisquare(counts).pvalue > 1e-3


def test_uniform_with_first_id_and_unknown_users():
    seen = SeenItems.from_pairs([0, 0], [1, 2], 3, first_id=1)  # items 1..3, user 0 saw 1 and 2
    sampler = UniformNegativeSampler(3, seen=seen, first_id=1, seed=0)
    assert set(sampler.sample(np.zeros(50, dtype=np.int64), 2).ravel().tolist()) == {3}
    assert set(sampler.sample(np.full(200, 9), 2).ravel().tolist()) == {1, 2, 3}  # unknown user


def test_uniform_is_deterministic_and_keeps_tensors():
    users = torch.arange(10)
    a = UniformNegativeSampler(100, seed=7).sample(users, 3)
    b = UniformNegativeSampler(100, seed=7).sample(users, 3)
    c = UniformNegativeSampler(100, seed=8).sample(users, 3)
    assert isinstance(a, torch.Tensor) and a.dtype == torch.int64
    assert torch.equal(a, b) and not torch.equal(a, c)
    sampler = UniformNegativeSampler(100, seed=7)
    first = sampler.sample(users, 3)
    sampler.reset()
    assert torch.equal(first, sampler.sample(users, 3))


def test_uniform_errors():
    seen = SeenItems.from_pairs([3, 3, 3], [0, 1, 2], 3)
    sampler = UniformNegativeSampler(3, seen=seen)
    with pytest.raises(SamplingError, match=r"users \[3\] have seen all 3 items"):
        sampler.sample(np.array([1, 3]), 1)
    with pytest.raises(SamplingError, match="num_negatives must be a positive integer"):
        sampler.sample(np.array([1]), 0)
    with pytest.raises(SamplingError, match="num_items"):
        UniformNegativeSampler(0)
    with pytest.raises(SamplingError, match="built for 3 items"):
        UniformNegativeSampler(4, seen=seen)
    with pytest.raises(SamplingError, match="integer ids"):
        sampler.sample(np.array([0.5]), 1)
    with pytest.raises(SamplingError, match="SeenItems"):
        UniformNegativeSampler(3, seen=[(0, 1)])


# -- popularity ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.0, 0.75, 1.0])
def test_popularity_frequencies_follow_counts_to_the_alpha(alpha):
    counts = np.array([1, 2, 5, 10, 40, 100, 3, 0], dtype=float)
    sampler = PopularityNegativeSampler(counts, alpha=alpha, seed=11)
    draws = sampler.sample(np.zeros(20_000, dtype=np.int64), 1).ravel()
    observed = np.bincount(draws, minlength=8)
    assert observed[7] == 0, "an item with count 0 is never drawn"
    weights = counts[:7] ** alpha
    expected = weights / weights.sum() * len(draws)
    assert chisquare(observed[:7], expected).pvalue > 1e-3


def test_popularity_excludes_seen_items():
    counts = np.arange(1, 31, dtype=float)
    users, items = random_seen(100, 30, seed=3)
    seen = SeenItems.from_pairs(users, items, 30)
    sampler = PopularityNegativeSampler(counts, alpha=1.0, seen=seen, first_id=1, seed=0)
    query = np.repeat(np.arange(100), 20)
    draws = sampler.sample(query, 3)
    assert draws.min() >= 1 and draws.max() <= 30
    assert not seen.contains(query[:, None], draws - 1).any()
    again = PopularityNegativeSampler(counts, alpha=1.0, seen=seen, first_id=1, seed=0)
    assert np.array_equal(draws, again.sample(query, 3))


def test_popularity_conditional_distribution_given_seen():
    counts = np.array([5, 1, 2, 3, 4], dtype=float)
    seen = SeenItems.from_pairs([0], [0], 5)  # the most popular item is excluded
    draws = PopularityNegativeSampler(counts, alpha=1.0, seen=seen, seed=1).sample(
        np.zeros(10_000, dtype=np.int64), 1
    )
    observed = np.bincount(draws.ravel(), minlength=5)
    assert observed[0] == 0
    assert chisquare(observed[1:], counts[1:] / counts[1:].sum() * 10_000).pvalue > 1e-3


def test_popularity_errors():
    with pytest.raises(SamplingError, match="finite and >= 0"):
        PopularityNegativeSampler([1, -1])
    with pytest.raises(SamplingError, match="every count is zero"):
        PopularityNegativeSampler([0, 0])
    with pytest.raises(SamplingError, match="alpha"):
        PopularityNegativeSampler([1, 2], alpha=-1)
    with pytest.raises(SamplingError, match="1-D"):
        PopularityNegativeSampler([[1, 2]])
    seen = SeenItems.from_pairs([0, 0], [1, 2], 4)  # user 0 saw every item with a nonzero count
    sampler = PopularityNegativeSampler([0, 3, 1, 0], seen=seen)
    with pytest.raises(SamplingError, match="seen every item with nonzero probability"):
        sampler.sample([0], 2)


# -- fixed ---------------------------------------------------------------------------------------------
def test_fixed_negatives_from_array_and_file(tmp_path):
    lines = ["(0,5)\t1\t2\t3", "(1,7)\t4\t5\t6", "(2,1)\t7\t8\t9"]
    path = tmp_path / "toy.test.negative.gz"
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    users, items, negatives = read_ncf_negatives(path)
    assert users.tolist() == [0, 1, 2] and items.tolist() == [5, 7, 1]
    fixed = FixedNegatives.from_file(path)
    assert fixed.sample(torch.tensor([2, 0])).tolist() == [[7, 8, 9], [1, 2, 3]]
    assert fixed.sample(np.array([1]), 3).tolist() == [[4, 5, 6]]
    with pytest.raises(SamplingError, match="have 3 per user, asked for 5"):
        fixed.sample(np.array([1]), 5)
    with pytest.raises(SamplingError, match=r"user ids must lie in \[0, 3\)"):
        fixed.sample(np.array([3]))
    with pytest.raises(SamplingError, match="shape"):
        FixedNegatives(np.array([1, 2, 3]))


def test_fixed_negatives_reject_malformed_files(tmp_path):
    path = tmp_path / "bad.negative"
    path.write_text("0,5\t1\t2\n")
    with pytest.raises(SamplingError, match=r"'\(user,item\)'"):
        read_ncf_negatives(path)


def test_ncf_fixed_negatives(require_data, ncf):
    root = require_data("ml-1m/ncf/ml-1m.test.negative.gz")
    fixed = FixedNegatives.from_file(root / "ml-1m" / "ncf" / "ml-1m.test.negative.gz")
    assert (fixed.num_users, fixed.num_negatives) == (6040, 99)
    assert np.array_equal(fixed.negatives, ncf.negatives)


# -- the NCF training negatives on real data ------------------------------------------------------------
def test_uniform_sampler_on_ncf_training_positives(ncf):
    seen = SeenItems.from_frame(ncf.train, ncf.num_items)
    sampler = UniformNegativeSampler(ncf.num_items, seen=seen, seed=0)
    users = ncf.train["user_id"].to_numpy()[::4]  # a quarter of the positives keeps it quick
    negatives = sampler.sample(users, 4)  # 4 per positive, as in NCF training
    assert negatives.shape == (len(users), 4)
    assert not seen.contains(users[:, None], negatives).any()
