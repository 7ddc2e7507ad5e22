"""Make the synthetic dataset and take the three views models train on (docs: synthetic data page)."""

from recnotes.data import SyntheticConfig, make_synthetic

# A small version of the default: the same seed always gives the same tables.
data = make_synthetic(SyntheticConfig(num_users=500, num_items=300), seed=0)
print(data.summary())

# CTR and multi-task models: one row per impression, with the last 20 clicks as history.
table = data.ctr_table(history_len=20)
print(table.schema.names("sparse"))
batch = table[:4]
print("history_ids", tuple(batch["history_ids"].shape), "labels", table.schema.names("label"))

# A temporal split at the cold-start time: no cold user or item is on the training side.
train = data.before(data.cold_start_time)
train_table, test_table = table.subset(train), table.subset(~train)
print("train rows + test rows == rows:", len(train_table) + len(test_table) == len(table))

# Retrieval models: clicks only. Sequential models: left-padded sequences, newest click last.
print("clicks:", len(data.interactions()) == int(data.impressions["click"].sum()))
sequences = data.sequences(max_len=50)
print("sequences", tuple(sequences.shape))
