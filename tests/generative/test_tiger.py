"""TIGER: the prefix trie, constrained beam search (valid, distinct ids), learning, bad input."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
import torch

from recnotes.data import BatchError
from recnotes.data.retrieval import build_retrieval_data
from recnotes.generative.rqvae import semantic_ids
from recnotes.generative.tiger import TIGER, PrefixTrie, TIGERConfig
from recnotes.train import TrainConfig, Trainer

SMALL = TIGERConfig(d_model=32, num_heads=2, head_dim=16, d_ff=64, encoder_layers=1,
                    decoder_layers=1, dropout=0.0, beam_size=10)  # fmt: skip


def chain_data():
    """Each user walks item ids in order (wrapping at 60): the next item is predictable."""
    rng = np.random.default_rng(0)
    rows = []
    for user in range(1, 301):
        start, n = int(rng.integers(1, 61)), int(rng.integers(8, 16))
        rows += [(user, (start + k - 1) % 60 + 1) for k in range(n)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id"])
    data = build_retrieval_data("chain", frame, num_items=60, max_len=5)
    items = torch.arange(1, 61)
    codes = torch.stack([(items - 1) // 10, (items - 1) % 10], dim=1)  # tens digit, units digit
    return data, semantic_ids(codes, items, codebook_size=10, max_collisions=2)


def sparse_ids(seed: int = 0, n: int = 40):
    """Random codes from a small space, so that many prefixes are missing (a real constraint)."""
    gen = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 6, (n, 2), generator=gen)
    return semantic_ids(codes, torch.arange(1, n + 1), codebook_size=6, max_collisions=8)


def test_the_trie_allows_exactly_the_continuations_of_real_ids():
    ids = sparse_ids()
    trie = PrefixTrie(ids, offsets=[0, 0, 0])
    rows = [tuple(r) for r in ids.ids.tolist()]
    for j, size in enumerate(ids.vocab_sizes):
        prefixes = sorted({r[:j] for r in rows})
        keys = []
        for p in prefixes:
            key = 0
            for t, s in zip(p, ids.vocab_sizes, strict=False):
                key = key * s + t
            keys.append(key)
        allowed = trie.allowed(j, torch.tensor(keys))
        for p, row in zip(prefixes, allowed.tolist(), strict=True):
            expected = [any(r[: j + 1] == (*p, v) for r in rows) for v in range(size)]
            assert row == expected


def test_beam_search_returns_k_distinct_valid_items_even_untrained():
    data, _ = chain_data()
    ids = sparse_ids(n=60)
    torch.manual_seed(0)
    model = TIGER(data.schema, SMALL, ids=ids)
    rec = model.recommend(dict(data.test.users), k=10)
    assert rec.shape == (len(data.test), 10)
    assert torch.all((rec >= 1) & (rec <= 60))  # every result is a real item id
    assert all(len(set(row)) == 10 for row in rec.tolist())  # k distinct items per user


def test_learns_an_item_chain():
    data, ids = chain_data()
    torch.manual_seed(0)
    model = TIGER(data.schema, SMALL, ids=ids)
    Trainer(model, TrainConfig(epochs=4, batch_size=64, lr=1e-2, progress=False,
                               device="cpu")).fit(data.train)  # fmt: skip
    rec = model.recommend(dict(data.valid.users), k=10)
    hr = (rec == data.valid.targets[:, None]).any(1).float().mean()
    assert hr > 0.8  # popularity: about 10 / 60


def test_bad_input_is_named():
    data, ids = chain_data()
    model = TIGER(data.schema, SMALL, ids=ids)
    users = dict(data.test.users)
    with pytest.raises(ValueError, match="beam_size"):
        model.recommend(users, k=11)  # beam 10 < k
    with pytest.raises(BatchError, match="history_ids"):
        model.recommend({"history_ids": torch.zeros(1, 5, dtype=torch.long)}, k=3)  # empty
    with pytest.raises(BatchError, match="item_ids"):
        model.loss({"history_ids": users["history_ids"][:2], "item_ids": torch.tensor([1, 61])})
    with pytest.raises(Exception, match="ids must cover"):
        TIGER(data.schema, SMALL, ids=sparse_ids(n=30))


def test_ids_keys_are_consistent_with_item_lookup():
    data, ids = chain_data()
    model = TIGER(data.schema, SMALL, ids=ids)
    codes = ids.ids
    items = model._items_of(codes)
    assert torch.equal(items, ids.item_ids)
    assert list(itertools.islice(model.offsets, 3)) == [2, 12, 22]


def test_cached_cross_attention_keys_values_give_the_same_logits():
    # beam search projects the encoder states once per request; decoding must not change
    data, ids = chain_data()
    torch.manual_seed(0)
    config = TIGERConfig(d_model=32, num_heads=2, head_dim=16, d_ff=64, encoder_layers=1,
                         decoder_layers=2, dropout=0.0)  # fmt: skip
    model = TIGER(data.schema, config, ids=ids).eval()
    history = data.test.users["history_ids"][:8]
    memory, keep = model.encode(history)
    tokens = model.item_tokens[history[:, -1]][:, :-1]  # a teacher-forced prefix of T tokens
    prefix = torch.cat([torch.ones(8, 1, dtype=torch.long), tokens], 1)
    plain = model.decode(prefix, memory, keep)
    cached = model.decode(prefix, None, keep, model.cross_keys_values(memory))
    assert plain.shape == (8, prefix.shape[1], model.vocab)
    assert torch.allclose(plain, cached, atol=1e-6)
    other = model.cross_keys_values(memory.flip(0))  # another batch's keys and values do differ
    assert not torch.allclose(plain, model.decode(prefix, None, keep.flip(0), other))
