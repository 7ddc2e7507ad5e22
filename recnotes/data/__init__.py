"""Data: the feature schema, tensor tables and batching, synthetic data, real datasets, splits."""

from recnotes.data.datasets import DATASETS, TableSplit, load
from recnotes.data.paths import (
    DataChecksumError,
    DataError,
    DataNotFoundError,
    UnknownDatasetError,
    data_dir,
    fetch,
)
from recnotes.data.sampling import (
    FixedNegatives,
    PopularityNegativeSampler,
    SeenItems,
    UniformNegativeSampler,
)
from recnotes.data.schema import BatchError, Feature, Schema
from recnotes.data.splits import Split, leave_one_out, random_split, temporal_split, user_split
from recnotes.data.synthetic import (
    SyntheticConfig,
    SyntheticData,
    SyntheticTruth,
    make_synthetic,
    tiny_ctr_batch,
)
from recnotes.data.table import BatchIterator, FeatureTable

__all__ = [
    "BatchError",
    "Feature",
    "Schema",
    "BatchIterator",
    "FeatureTable",
    "SyntheticConfig",
    "SyntheticData",
    "SyntheticTruth",
    "make_synthetic",
    "tiny_ctr_batch",
    "DATASETS",
    "TableSplit",
    "load",
    "DataError",
    "DataChecksumError",
    "DataNotFoundError",
    "UnknownDatasetError",
    "data_dir",
    "fetch",
    "Split",
    "leave_one_out",
    "temporal_split",
    "random_split",
    "user_split",
    "SeenItems",
    "UniformNegativeSampler",
    "PopularityNegativeSampler",
    "FixedNegatives",
]
