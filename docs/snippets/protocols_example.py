"""A leave-one-out split and negatives that avoid the training items (docs: protocols page)."""

import pandas as pd

from recnotes.data import SeenItems, UniformNegativeSampler, leave_one_out

events = pd.DataFrame(
    {
        "user_id": [0, 0, 0, 0, 1, 1, 1],
        "item_id": [3, 1, 4, 2, 0, 2, 5],
        "timestamp": [10, 20, 30, 40, 15, 25, 35],
    }
)
split = leave_one_out(events, valid=True)  # last event -> test, the one before -> validation
print(split.protocol, split.sizes())
print(
    "valid items:", split.valid["item_id"].tolist(), "test items:", split.test["item_id"].tolist()
)

# Four training negatives per positive, never an item the user has in training.
seen = SeenItems.from_frame(split.train, num_items=6)
sampler = UniformNegativeSampler(6, seen=seen, seed=0)
users = split.train["user_id"].to_numpy()
negatives = sampler.sample(users, 4)
print(
    "negatives",
    negatives.shape,
    "seen item drawn:",
    bool(seen.contains(users[:, None], negatives).any()),
)
