"""The feature contract: what a batch may contain, and a validator that says what is wrong.

Every model in recnotes reads one batch format: a ``dict[str, Tensor]`` whose keys are feature names
declared in a :class:`Schema`. Four kinds of feature exist:

* ``sparse`` — one categorical id per row, shape ``(B,)``, integer, ``0 <= id < vocab_size``;
  id ``0`` is reserved for padding / unknown.
* ``dense`` — floats, shape ``(B,)`` when ``dim == 1`` else ``(B, dim)``; never NaN or infinite.
* ``sequence`` — a padded id sequence, shape ``(B, L)`` with ``L <= max_len``; id ``0`` is padding.
* ``label`` — a training target, shape ``(B,)``, float (or integer for class ids).

:meth:`Schema.validate` checks a batch against the declaration and raises :class:`BatchError` naming
the feature and the problem, instead of letting an ``IndexError`` surface from inside an embedding.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch

__all__ = ["Feature", "Schema", "BatchError", "FEATURE_KINDS"]

FeatureKind = Literal["sparse", "dense", "sequence", "label"]
FEATURE_KINDS: tuple[str, ...] = ("sparse", "dense", "sequence", "label")

_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.uint8, torch.int8)
_FLOAT_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


class BatchError(ValueError):
    """A batch does not match its schema. The message names the feature and the problem."""

    def __init__(self, feature: str, problem: str) -> None:
        self.feature = feature
        self.problem = problem
        super().__init__(f"feature '{feature}': {problem}")


@dataclass(frozen=True)
class Feature:
    """One named input or label.

    Args:
        name: key of the feature in a batch.
        kind: ``"sparse"``, ``"dense"``, ``"sequence"`` or ``"label"``.
        vocab_size: number of ids including the padding id 0 (sparse and sequence features).
        dim: width of a dense feature (1 means shape ``(B,)``).
        max_len: longest allowed sequence (sequence features).
        shared_with: name of another feature whose embedding table this one shares
            (e.g. ``history_ids`` shares ``item_ids``); informational for models.
    """

    name: str
    kind: FeatureKind
    vocab_size: int = 0
    dim: int = 1
    max_len: int = 0
    shared_with: str | None = None

    def __post_init__(self) -> None:
        if not self.name or not isinstance(self.name, str):
            raise ValueError("a feature needs a non-empty string name")
        if self.kind not in FEATURE_KINDS:
            raise ValueError(
                f"feature '{self.name}': kind must be one of {FEATURE_KINDS}, got {self.kind!r}"
            )
        if self.kind in ("sparse", "sequence") and self.vocab_size < 2:
            raise ValueError(
                f"feature '{self.name}': a {self.kind} feature needs vocab_size >= 2 "
                f"(id 0 is padding), got {self.vocab_size}"
            )
        if self.kind == "sequence" and self.max_len < 1:
            raise ValueError(f"feature '{self.name}': a sequence feature needs max_len >= 1")
        if self.dim < 1:
            raise ValueError(f"feature '{self.name}': dim must be >= 1, got {self.dim}")


@dataclass(frozen=True)
class Schema:
    """An ordered set of features; validates batches.

    Example:
        >>> import torch
        >>> schema = Schema([Feature("user_ids", "sparse", vocab_size=10),
        ...                  Feature("price", "dense"), Feature("label", "label")])
        >>> schema.names(kind="sparse")
        ['user_ids']
        >>> batch = {"user_ids": torch.tensor([1, 12]), "price": torch.tensor([0.5, 1.0]),
        ...          "label": torch.tensor([1.0, 0.0])}
        >>> schema.validate(batch)
        Traceback (most recent call last):
        ...
        recnotes.data.schema.BatchError: feature 'user_ids': id 12 is outside the vocabulary [0, 10) (row 1)
    """

    features: tuple[Feature, ...] = field(default_factory=tuple)

    def __init__(self, features: Iterable[Feature] = ()) -> None:
        feats = tuple(features)
        seen: set[str] = set()
        for f in feats:
            if not isinstance(f, Feature):
                raise TypeError(f"Schema takes Feature objects, got {type(f).__name__}")
            if f.name in seen:
                raise ValueError(f"feature '{f.name}' is declared twice")
            seen.add(f.name)
        object.__setattr__(self, "features", feats)

    # -- look-ups ------------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Feature:
        for f in self.features:
            if f.name == name:
                return f
        raise KeyError(f"no feature named '{name}' in the schema; known: {self.names()}")

    def __contains__(self, name: object) -> bool:
        return any(f.name == name for f in self.features)

    def __iter__(self):
        return iter(self.features)

    def __len__(self) -> int:
        return len(self.features)

    def names(self, kind: str | None = None) -> list[str]:
        """Feature names in declaration order, optionally only those of one kind."""
        if kind is not None and kind not in FEATURE_KINDS:
            raise ValueError(f"kind must be one of {FEATURE_KINDS}, got {kind!r}")
        return [f.name for f in self.features if kind is None or f.kind == kind]

    def of_kind(self, kind: str) -> list[Feature]:
        """Features of one kind, in declaration order."""
        return [self[n] for n in self.names(kind)]

    def inputs(self) -> list[Feature]:
        """Every feature that is not a label."""
        return [f for f in self.features if f.kind != "label"]

    def select(self, names: Iterable[str]) -> Schema:
        """A schema with only the named features (in the given order)."""
        return Schema([self[n] for n in names])

    def to_dict(self) -> list[dict]:
        """A JSON-friendly description (used by checkpoints)."""
        return [
            {
                k: getattr(f, k)
                for k in ("name", "kind", "vocab_size", "dim", "max_len", "shared_with")
            }
            for f in self.features
        ]

    @classmethod
    def from_dict(cls, items: Iterable[Mapping]) -> Schema:
        """Inverse of :meth:`to_dict`."""
        return cls(Feature(**dict(item)) for item in items)

    # -- validation ----------------------------------------------------------------------------
    def validate(
        self,
        batch: Mapping[str, torch.Tensor],
        *,
        require_labels: bool = False,
        check_values: bool = True,
    ) -> None:
        """Check a batch against the schema; raise :class:`BatchError` on the first problem.

        Args:
            batch: the batch to check.
            require_labels: also require every ``label`` feature to be present.
            check_values: check id ranges and NaNs too (costs a pass over the data).

        Raises:
            BatchError: a key is missing, a value is not a tensor, a dtype or shape is wrong, an id
                is outside ``[0, vocab_size)``, or a dense value is NaN or infinite.
        """
        if not isinstance(batch, Mapping):
            raise TypeError(f"a batch is a dict of tensors, got {type(batch).__name__}")
        rows: int | None = None
        rows_from = ""
        for f in self.features:
            if f.name not in batch:
                if f.kind == "label" and not require_labels:
                    continue
                known = ", ".join(sorted(map(str, batch.keys()))) or "nothing"
                raise BatchError(f.name, f"missing from the batch (the batch has: {known})")
            x = batch[f.name]
            if not isinstance(x, torch.Tensor):
                raise BatchError(f.name, f"expected a torch.Tensor, got {type(x).__name__}")
            self._check_dtype_shape(f, x)
            if rows is None:
                rows, rows_from = x.shape[0], f.name
            elif x.shape[0] != rows:
                raise BatchError(f.name, f"has {x.shape[0]} rows but '{rows_from}' has {rows}")
            if check_values and x.numel() > 0:
                self._check_values(f, x)

    @staticmethod
    def _check_dtype_shape(f: Feature, x: torch.Tensor) -> None:
        if f.kind in ("sparse", "sequence"):
            if x.dtype not in _INT_DTYPES:
                raise BatchError(f.name, f"ids must be an integer tensor, got dtype {x.dtype}")
        elif f.kind == "dense" and x.dtype not in _FLOAT_DTYPES:
            raise BatchError(f.name, f"dense values must be a float tensor, got dtype {x.dtype}")
        if f.kind == "sequence":
            if x.dim() != 2:
                raise BatchError(f.name, f"expected shape (B, L), got {tuple(x.shape)}")
            if x.shape[1] > f.max_len:
                raise BatchError(
                    f.name, f"sequence length {x.shape[1]} exceeds max_len {f.max_len}"
                )
        elif f.kind == "dense" and f.dim > 1:
            if x.dim() != 2 or x.shape[1] != f.dim:
                raise BatchError(f.name, f"expected shape (B, {f.dim}), got {tuple(x.shape)}")
        elif x.dim() != 1:
            raise BatchError(f.name, f"expected shape (B,), got {tuple(x.shape)}")

    @staticmethod
    def _check_values(f: Feature, x: torch.Tensor) -> None:
        if f.kind in ("sparse", "sequence"):
            bad = (x < 0) | (x >= f.vocab_size)
            if bool(bad.any()):
                idx = bad.nonzero()[0].tolist()
                value = int(x[tuple(idx)])
                raise BatchError(
                    f.name,
                    f"id {value} is outside the vocabulary [0, {f.vocab_size}) (row {idx[0]})",
                )
        elif f.kind in ("dense", "label") and x.is_floating_point():
            bad = ~torch.isfinite(x)
            if bool(bad.any()):
                idx = bad.nonzero()[0].tolist()
                what = "NaN" if bool(torch.isnan(x[tuple(idx)])) else "an infinite value"
                raise BatchError(f.name, f"contains {what} (row {idx[0]})")
