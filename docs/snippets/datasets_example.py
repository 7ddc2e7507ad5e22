"""Load ML-1M, build the DCN-V2 CTR tables and take one batch (docs: data page; needs the real data)."""

from recnotes.data import BatchIterator
from recnotes.data.datasets import load_movielens_1m, movielens_1m_ctr

# Reads $RECNOTES_DATA/ml-1m (or the cache folder); every file is checked against its sha256.
ml = load_movielens_1m()
print(ml)
print("ratings with a timestamp:", int(ml.ratings["timestamp"].notna().sum()))

# Protocol ctr-random-80-10-10: ratings 4-5 -> 1, 1-2 -> 0, 3 dropped; random 80/10/10 split.
tables = movielens_1m_ctr(data=ml, seed=0)
print(tables.protocol, tables.sizes())

batch = next(iter(BatchIterator(tables.train, batch_size=1024, seed=0)))
print({name: tuple(x.shape) for name, x in batch.items()})
