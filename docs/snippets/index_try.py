"""Exact and approximate top-k retrieval, seen-item masking and multi-interest search (docs: the
retrieval index page). Needs faiss for the HNSW part: pip install 'recnotes[ann]'."""

import torch

from recnotes.index import build_index

# A catalogue of 10,000 item vectors in 40 clusters, as a trained item tower's output would be.
gen = torch.Generator().manual_seed(0)
centres = torch.randn(40, 32, generator=gen) * 2
items = centres[torch.randint(0, 40, (10_000,), generator=gen)] + torch.randn(
    10_000, 32, generator=gen
)
users = centres[torch.randint(0, 40, (50,), generator=gen)] + torch.randn(50, 32, generator=gen)

exact = build_index(items, kind="exact")  # torch only, chunked brute force
scores, ids = exact.search(users, k=100)  # (50, 100) each, best first
print("exact top-5 of user 0:", ids[0, :5].tolist())

# HNSW (faiss): approximate, so measure how much of the exact top-100 it finds.
hnsw = build_index(items, kind="hnsw", m=32, ef_search=256)
approx_ids = hnsw.search(users, k=100)[1]
found = sum(len(set(a) & set(b)) for a, b in zip(approx_ids.tolist(), ids.tolist()))
print(f"hnsw recall@100 vs exact: {found / ids.numel():.3f}")

# Never recommend what the user has already interacted with: one id tensor per user.
seen = [ids[u, :10] for u in range(50)]  # pretend each user's 10 best items are their history
masked_ids = hnsw.search(users, k=100, exclude=seen)[1]
leaks = sum(int(torch.isin(masked_ids[u], seen[u]).sum()) for u in range(50))
print("seen items returned:", leaks, "| items per user:", masked_ids.shape[1])

# A multi-interest user (K=3 vectors): each interest searches, the results merge by best score.
interests = torch.randn(50, 3, 32, generator=gen)
multi_ids = exact.search_multi(interests, k=5)[1]
print("multi-interest top-5 of user 0:", multi_ids[0].tolist())
