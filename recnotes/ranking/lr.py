"""LR: logistic regression over one-hot (and multi-hot) ids, the baseline of every CTR model.

Paper: logistic regression is older than any recommender paper; the industrial reference is *Ad
Click Prediction: a View from the Trenches*, H. Brendan McMahan, Gary Holt, D. Sculley, Michael
Young, Dietmar Ebner, Julian Grady, Lan Nie, Todd Phillips, Eugene Davydov, Daniel Golovin, Sharat
Chikkerur, Dan Liu, Martin Wattenberg, Arnar Mar Hrafnkelsson, Tom Boulos and Jeremy Kubica, KDD
2013, https://doi.org/10.1145/2487575.2488200. That paper is about how Google trains this model
(the FTRL-Proximal optimiser); the model itself is plain LR.

Stage: ranking (CTR prediction).

The idea: every id of every field gets one scalar weight, and the click logit is a bias plus the
weights of the ids that are present, plus a weight times each dense value. Writing the ids as a
one-hot (or, for a list of ids, multi-hot) vector, this is ``w0 + <w, x>``: a linear model. It
memorises how clickable each user, item and context value is on its own, and nothing about how
they combine; every later model in this section adds an interaction term to this one.

Shape legend: ``B`` batch, ``L`` sequence length, ``F`` sparse plus sequence fields, ``P`` total
width of the dense features.

Differences from the paper:

* The paper trains with FTRL-Proximal (per-coordinate learning rates and an L1 penalty that makes
  most weights exactly zero), online, one example at a time. recnotes trains the same model with the
  Trainer's optimisers (Adam by default) on mini-batches; ``TrainConfig.weight_decay`` is an L2
  penalty, and there is no L1. FTRL is an optimiser, not a model.
* One weight per id of each field's vocabulary; the paper hashes features into a fixed-size space.
* A sequence field is a bag of ids (a multi-hot vector): each non-padding id adds its weight once
  per occurrence. It has its own weights even when the schema declares ``shared_with``, because
  its ids are other columns of ``x`` than the candidate's. Dense features enter as ``w . x``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

import torch
from torch import nn

from recnotes.data import Schema, tiny_ctr_batch
from recnotes.layers import FeaturesLinear
from recnotes.registry import ModelSpec, Paper, register

__all__ = ["LRConfig", "LR"]


@dataclass(frozen=True)
class LRConfig:
    """Hyper-parameters of :class:`LR`: there is nothing to choose but whether to check inputs.

    The id weights start at zero (a convex model needs no random start); regularise with
    ``TrainConfig.weight_decay``.

    Example:
        >>> LRConfig().check_inputs
        True
    """

    check_inputs: bool = True  # validate every batch against the schema (named errors)


class LR(nn.Module):
    """Logistic regression on every non-label feature of the schema.

    The logit is ``w0 + sum of the weights of the present ids + w_dense . x_dense`` (Eq. 1); the
    weights live in the shared ``recnotes.layers.FeaturesLinear`` block, one table of scalars per
    field. Every field has its own table, even a sequence that declares ``shared_with``: item 42 in
    the history and item 42 as the candidate are different columns of ``x``.

    Args:
        schema: the features; needs at least one sparse, sequence or dense feature.
        config: hyper-parameters (:class:`LRConfig`).

    Shapes:
        ``forward(batch)``: ``(B,)``.

    Returns:
        ``forward`` returns click logits (not probabilities); ``sigmoid`` gives the CTR.

    Raises:
        recnotes.data.BatchError: (with ``check_inputs``) a feature is missing, has the wrong dtype
            or shape, or holds an id outside its vocabulary; the message names the feature.

    Example:
        >>> model, batch = tiny_lr()
        >>> model(batch).shape, sorted(model.linear.weights)  # one table per field
        (torch.Size([6]), ['history_ids', 'item_ids', 'user_ids'])
    """

    def __init__(self, schema: Schema, config: LRConfig = LRConfig()) -> None:
        super().__init__()
        self.schema, self.config = schema, config
        inputs = [f.name for f in schema.inputs()]
        if not inputs:
            raise ValueError("LR needs at least one sparse, sequence or dense feature")
        self._inputs = schema.select(inputs)  # what check_inputs validates
        # each field is its own block of one-hot columns: a history never reads the item's weights
        own_tables = Schema([dataclasses.replace(f, shared_with=None) for f in schema])
        self.linear = FeaturesLinear(own_tables)  # w0, one weight per id, w_dense

    # --8<-- [start:forward]
    def forward(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        if self.config.check_inputs:
            self._inputs.validate(batch)  # BatchError names the feature, not an IndexError
        return self.linear(batch)  # Eq. (1): w0 + <w, x>, (B,) logits

    # --8<-- [end:forward]


def tiny_lr() -> tuple[LR, dict[str, torch.Tensor]]:
    """A tiny LR and a matching batch: two sparse fields, a padded history, a 2-wide dense field."""
    schema, batch = tiny_ctr_batch()
    return LR(schema), batch


SPEC = register(
    ModelSpec(
        name="lr",
        display_name="LR",
        stage="ranking",
        family="ranking",
        paper=Paper(
            title="Ad Click Prediction: a View from the Trenches",
            authors="McMahan et al.",
            venue="KDD",
            year=2013,
            url="https://doi.org/10.1145/2487575.2488200",
        ),
        cls=LR,
        config_cls=LRConfig,
        tiny=tiny_lr,
        summary="One weight per id plus a bias: the linear baseline that every CTR model extends.",
        status="reproduced",  # results/frappe/lr.json: test AUC within 0.003 of BARS (3 seeds)
        note="ranking/lr.md",
    )
)
