"""ILD (``recnotes.metrics.ild``), the diversity metric of the re-rankers, against a plain loop."""

from __future__ import annotations

import math

import pytest
import torch

from recnotes.metrics import ild


def loop_ild(vectors: list[list[float]]) -> float:
    """Mean of 1 - cosine over the k (k - 1) / 2 distinct pairs, by two loops."""
    k, total = len(vectors), 0.0
    for i in range(k):
        for j in range(i + 1, k):
            a, b = vectors[i], vectors[j]
            dot = sum(x * y for x, y in zip(a, b))
            total += 1.0 - dot / (
                math.sqrt(sum(x * x for x in a)) * math.sqrt(sum(y * y for y in b))
            )
    return total / (k * (k - 1) / 2)


@pytest.mark.parametrize("seed", range(3))
def test_ild_equals_the_pairwise_loop_for_one_list_and_a_batch(seed):
    gen = torch.Generator().manual_seed(seed)
    lists = torch.randn(5, 7, 4, generator=gen, dtype=torch.float64)  # 5 lists of k = 7
    per_list = ild(lists, reduction="none")
    expected = [loop_ild(one.tolist()) for one in lists]
    assert per_list.tolist() == pytest.approx(expected, abs=1e-12)
    assert ild(lists) == pytest.approx(sum(expected) / 5, abs=1e-12)
    assert ild(lists[2]) == pytest.approx(expected[2], abs=1e-12)
