"""FeatureTable.take and the BatchIterator built on it."""

from __future__ import annotations

import torch

from recnotes.data import BatchIterator, Feature, FeatureTable, Schema


def _table(n: int = 103) -> FeatureTable:
    schema = Schema(
        [
            Feature("user_ids", "sparse", vocab_size=1000),
            Feature("history_ids", "sequence", vocab_size=1000, max_len=4),
            Feature("price", "dense"),
            Feature("label", "label"),
        ]
    )
    gen = torch.Generator().manual_seed(0)
    return FeatureTable(
        {
            "user_ids": torch.arange(n),  # row number = user id, so batches can be traced
            "history_ids": torch.randint(0, 1000, (n, 4), generator=gen),
            "price": torch.rand(n, generator=gen),
            "label": torch.randint(0, 2, (n,), generator=gen).float(),
        },
        schema,
    )


def test_take_equals_advanced_indexing_on_every_column():
    table = _table()
    rows = torch.tensor([5, 0, 102, 5, 17])
    taken, indexed = table.take(rows), table[rows]
    assert set(taken) == set(indexed) == set(table.columns)
    for name in taken:
        assert torch.equal(taken[name], indexed[name]), name
    assert taken["history_ids"].shape == (5, 4)


def test_batch_iterator_covers_each_row_once_per_epoch_and_reshuffles():
    table = _table()
    batches = BatchIterator(table, batch_size=10, shuffle=True, seed=3)
    assert len(batches) == 11  # 103 rows: ten full batches and one of 3
    seen = []
    for epoch in (0, 1):
        batches.set_epoch(epoch)
        users = torch.cat([b["user_ids"] for b in batches])
        assert sorted(users.tolist()) == list(range(103)), epoch
        for b in batches:  # every column of a batch comes from the same rows
            assert torch.equal(b["history_ids"], table["history_ids"][b["user_ids"]])
        seen.append(users)
    assert not torch.equal(seen[0], seen[1])  # a new order each epoch
    batches.set_epoch(0)
    assert torch.equal(torch.cat([b["user_ids"] for b in batches]), seen[0])  # and reproducible
