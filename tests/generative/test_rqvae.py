"""RQ-VAE semantic ids: residual quantisation, k-means start, collapse guard, unique ids."""

from __future__ import annotations

import pytest
import torch

from recnotes.generative.rqvae import (
    RQVAE,
    RQVAEConfig,
    SemanticIdError,
    kmeans,
    semantic_ids,
    train_rqvae,
)

SMALL = RQVAEConfig(input_dim=16, hidden=(24,), code_dim=6, num_levels=3, codebook_size=8)


def clustered(n: int = 600, clusters: int = 8, dim: int = 16, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    centres = torch.randn(clusters, dim, generator=gen) * 3
    label = torch.arange(n) % clusters
    return centres[label] + 0.3 * torch.randn(n, dim, generator=gen), label


def test_each_level_quantises_what_the_previous_levels_left():
    torch.manual_seed(0)
    model = RQVAE(SMALL)
    z = torch.randn(50, 6)
    quantised, codes, _ = model.quantise(z)
    residual, total = z, torch.zeros_like(z)
    for level in range(3):
        book = model.codebooks[level].detach()
        expected = torch.cdist(residual, book).argmin(1)  # the nearest code of the residual
        assert torch.equal(codes[:, level], expected)
        total = total + book[expected]
        residual = residual - book[expected]
    torch.testing.assert_close(quantised, total)


def test_kmeans_finds_separated_clusters():
    x, label = clustered(n=400, clusters=4)
    centroids = kmeans(x, 4, iters=30, generator=torch.Generator().manual_seed(0))
    assign = torch.cdist(x, centroids).argmin(1)
    for c in range(4):  # each true cluster falls into one k-means cluster
        assert torch.unique(assign[label == c]).numel() == 1


def test_training_learns_codes_that_follow_content():
    x, label = clustered()
    model, history = train_rqvae(x, SMALL, epochs=25, batch_size=128, lr=3e-3, seed=0)
    assert history[-1] < history[0] * 0.7
    codes = model.codes(x)
    # items of one content cluster share their first code (purity of the first level)
    purity = sum(int(torch.bincount(codes[label == c, 0]).max()) for c in range(8)) / len(x)
    assert purity > 0.9
    # k-means start + the collapse guard: every first-level code is in use
    assert torch.unique(codes[:, 0]).numel() == 8


def test_the_collapse_guard_revives_unused_codes():
    x, _ = clustered()
    torch.manual_seed(0)
    model = RQVAE(SMALL)
    with torch.no_grad():
        model.codebooks[0, 1:] = 1e3  # every item picks code 0 at the first level
    assert torch.unique(model.codes(x)[:, 0]).tolist() == [0]
    moved = model.restart_dead_codes(x, torch.Generator().manual_seed(0))
    assert moved >= 7
    assert torch.unique(model.codes(x)[:, 0]).numel() > 1


def test_every_semantic_id_decodes_to_exactly_one_item():
    x, _ = clustered()
    model, _ = train_rqvae(x, SMALL, epochs=5, batch_size=128, lr=3e-3, seed=0)
    items = torch.arange(1, len(x) + 1)
    sid = semantic_ids(model.codes(x), items, codebook_size=8)
    assert torch.unique(sid.ids, dim=0).shape[0] == len(x)  # no two items share an id
    for row, item in zip(sid.ids.tolist(), items.tolist(), strict=True):
        assert sid.item(row) == item
    torch.testing.assert_close(sid.of(torch.tensor([[3, 1]])), sid.ids[torch.tensor([[2, 0]])])


def test_collision_tokens_number_the_items_of_a_tuple():
    codes = torch.tensor([[1, 2], [0, 0], [1, 2], [1, 2]])
    sid = semantic_ids(codes, torch.tensor([5, 6, 7, 8]), codebook_size=3)
    assert sid.ids[:, -1].tolist() == [0, 0, 1, 2]
    assert sid.vocab_sizes == (3, 3, 256)
    with pytest.raises(SemanticIdError, match="max_collisions"):
        semantic_ids(codes, torch.tensor([5, 6, 7, 8]), codebook_size=3, max_collisions=2)
    with pytest.raises(SemanticIdError, match="no item"):
        sid.item((2, 2, 0))
    with pytest.raises(SemanticIdError, match="distinct"):
        semantic_ids(codes, torch.tensor([5, 5, 7, 8]), codebook_size=3)


def test_bad_input_is_named():
    model = RQVAE(SMALL)
    with pytest.raises(ValueError, match=r"\(N, 16\)"):
        model.codes(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="NaN"):
        model.codes(torch.full((2, 16), float("nan")))
    with pytest.raises(ValueError, match="codebook_size"):
        RQVAEConfig(codebook_size=0)
