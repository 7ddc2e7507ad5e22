"""The model registry: every model in recnotes, with its stage, paper and a tiny test set-up.

A model file registers itself with :func:`register`. The site's model index, the section pages,
``python -m recnotes list`` and the contract test all read this one registry, so a model that is
registered shows up everywhere (and is tested) without another list to keep in sync.

Example:
    >>> from recnotes.registry import STAGES, FAMILIES
    >>> "ranking" in STAGES and "recall" in FAMILIES
    True
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = [
    "Paper",
    "ModelSpec",
    "register",
    "get",
    "names",
    "specs",
    "unregister",
    "STAGES",
    "FAMILIES",
    "STATUSES",
    "UnknownModelError",
]

#: Pipeline stages in the order of the funnel (the site's sections).
STAGES: tuple[str, ...] = (
    "recall",
    "prerank",
    "ranking",
    "rerank",
    "multitask",
    "meta",
    "generative",
)
#: Interface families (DESIGN.md, "Families"): they decide how models are trained and evaluated.
FAMILIES: tuple[str, ...] = (
    "ranking",
    "multitask",
    "recall",
    "sequential",
    "generative",
    "rerank",
    "meta",
)
#: How far a model has come: implemented and tested, or also reproduced on real data.
STATUSES: tuple[str, ...] = ("implemented", "reproduced")

# The modules whose import registers the models. Stage packages import their model files.
_MODEL_PACKAGES: tuple[str, ...] = (
    "recnotes.recall",
    "recnotes.prerank",
    "recnotes.ranking",
    "recnotes.rerank",
    "recnotes.multitask",
    "recnotes.meta",
    "recnotes.generative",
)


class UnknownModelError(KeyError):
    """No model of that name is registered."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


@dataclass(frozen=True)
class Paper:
    """The publication a model comes from."""

    title: str
    authors: str
    venue: str
    year: int
    url: str

    def cite(self) -> str:
        """A one-line citation: ``Authors (Venue Year)``."""
        return f"{self.authors} ({self.venue} {self.year})"


@dataclass(frozen=True)
class ModelSpec:
    """Everything the tests, the site and the command line need to know about one model.

    Args:
        name: registry key, lower-case (``"deepfm"``).
        display_name: the paper's name (``"DeepFM"``).
        stage: one of :data:`STAGES`.
        family: one of :data:`FAMILIES` (the interface the model implements).
        paper: where it comes from.
        cls: the ``nn.Module`` class.
        config_cls: its frozen config dataclass.
        tiny: returns ``(model, batch)`` — a tiny model and a matching dummy batch — for the
            contract test and doctests. Must be fast (milliseconds) and deterministic.
        summary: one sentence for the model index.
        status: one of :data:`STATUSES`.
        note: the model's page path under ``docs/<lang>/`` (``"ranking/deepfm.md"``).
    """

    name: str
    display_name: str
    stage: str
    family: str
    paper: Paper
    cls: type[torch.nn.Module]
    config_cls: type
    tiny: Callable[[], tuple[torch.nn.Module, dict[str, torch.Tensor]]]
    summary: str = ""
    status: str = "implemented"
    note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.name or self.name != self.name.lower():
            raise ValueError(f"model name must be lower-case and non-empty, got {self.name!r}")
        if self.stage not in STAGES:
            raise ValueError(f"model '{self.name}': stage must be one of {STAGES}, got {self.stage!r}")
        if self.family not in FAMILIES:
            raise ValueError(
                f"model '{self.name}': family must be one of {FAMILIES}, got {self.family!r}"
            )
        if self.status not in STATUSES:
            raise ValueError(
                f"model '{self.name}': status must be one of {STATUSES}, got {self.status!r}"
            )


_REGISTRY: dict[str, ModelSpec] = {}
_loaded = False


def register(spec: ModelSpec) -> ModelSpec:
    """Add a model to the registry (a second registration of the same name is an error)."""
    if not isinstance(spec, ModelSpec):
        raise TypeError(f"register takes a ModelSpec, got {type(spec).__name__}")
    if spec.name in _REGISTRY and _REGISTRY[spec.name].cls is not spec.cls:
        raise ValueError(f"a model named '{spec.name}' is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unregister(name: str) -> None:
    """Remove a model (used by tests that register a throw-away model)."""
    _REGISTRY.pop(name, None)


def _load_all() -> None:
    global _loaded
    if _loaded:
        return
    for module in _MODEL_PACKAGES:
        importlib.import_module(module)
    _loaded = True


def specs(stage: str | None = None) -> list[ModelSpec]:
    """Registered models, in funnel order then by name; optionally only one stage."""
    _load_all()
    if stage is not None and stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    found = [s for s in _REGISTRY.values() if stage is None or s.stage == stage]
    return sorted(found, key=lambda s: (STAGES.index(s.stage), s.name))


def names(stage: str | None = None) -> list[str]:
    """Names of the registered models."""
    return [s.name for s in specs(stage)]


def get(name: str) -> ModelSpec:
    """The spec of one model, with a helpful error for an unknown name."""
    _load_all()
    key = name.lower()
    if key not in _REGISTRY:
        import difflib

        close = difflib.get_close_matches(key, _REGISTRY, n=3)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        known = ", ".join(sorted(_REGISTRY)) or "none yet"
        raise UnknownModelError(
            f"unknown model '{name}'.{hint} Registered models: {known}. "
            "Run `python -m recnotes list` to see them by stage."
        )
    return _REGISTRY[key]
