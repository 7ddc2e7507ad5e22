"""One contract test for every registered model, with no skip list (STYLE.md, "Tests").

Each model's ``tiny()`` gives a small model and a matching batch; the checks depend only on the
model's family (the interface in DESIGN.md), so a new model is tested the moment it is registered.
"""

from __future__ import annotations

import copy
import io

import pytest
import torch
import toy_models  # noqa: F401  (registers the test-only model)

from recnotes import registry
from recnotes.train import default_loss

SPECS = registry.specs()


def outputs(spec: registry.ModelSpec, model: torch.nn.Module, batch: dict) -> torch.Tensor:
    """The family's main output, flattened to one tensor with the batch as first dimension."""
    if spec.family == "ranking":
        return model(batch)
    if spec.family == "multitask":
        out = model(batch)
        return torch.stack([out[k] for k in sorted(out)], dim=-1)
    if spec.family in ("recall", "sequential"):
        return model.user_embedding(batch)
    if spec.family == "generative":
        return model(batch)
    raise NotImplementedError(f"no contract written yet for family '{spec.family}'")


def batch_rows(batch: dict, index: torch.Tensor) -> dict:
    return {k: v[index] for k, v in batch.items()}


@pytest.fixture(params=SPECS, ids=[s.name for s in SPECS])
def spec(request) -> registry.ModelSpec:
    return request.param


def test_registry_is_not_empty_in_tests():
    assert "toy-ranker" in registry.names()


def test_output_shape_and_dtype(spec):
    torch.manual_seed(0)
    model, batch = spec.tiny()
    model.eval()
    out = outputs(spec, model, batch)
    rows = next(iter(batch.values())).shape[0]
    assert out.shape[0] == rows
    if spec.family == "ranking":
        assert out.shape == (rows,), "ranking models return logits of shape (B,)"
    assert out.dtype.is_floating_point
    assert torch.isfinite(out).all()


def test_finite_loss_and_gradient_reaches_every_parameter(spec):
    torch.manual_seed(0)
    model, batch = spec.tiny()
    model.train()
    loss = default_loss(model, batch)
    assert loss.dim() == 0 and torch.isfinite(loss)
    loss.backward()
    for name, p in model.named_parameters():
        if p.requires_grad:
            assert p.grad is not None, f"no gradient reaches {name}"
            assert torch.isfinite(p.grad).all(), f"non-finite gradient in {name}"


def test_eval_mode_is_deterministic(spec):
    torch.manual_seed(0)
    model, batch = spec.tiny()
    model.eval()
    with torch.no_grad():
        assert torch.equal(outputs(spec, model, batch), outputs(spec, model, batch))


def test_rows_are_independent(spec):
    """Row 0's output must not change when the other rows change."""
    torch.manual_seed(0)
    model, batch = spec.tiny()
    model.eval()
    rows = next(iter(batch.values())).shape[0]
    assert rows >= 2
    reordered = torch.cat([torch.tensor([0]), torch.arange(rows - 1, 0, -1)])
    with torch.no_grad():
        full = outputs(spec, model, batch)
        other = outputs(spec, model, batch_rows(batch, reordered))
        alone = outputs(spec, model, batch_rows(batch, torch.tensor([0, 0])))
    torch.testing.assert_close(full[0], other[0])
    torch.testing.assert_close(full[0], alone[0])


def test_state_dict_round_trip(spec):
    torch.manual_seed(0)
    model, batch = spec.tiny()
    model.eval()
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    clone = copy.deepcopy(model)
    for p in clone.parameters():
        torch.nn.init.normal_(p)
    clone.load_state_dict(torch.load(buffer, weights_only=True))
    clone.eval()
    with torch.no_grad():
        assert torch.equal(outputs(spec, model, batch), outputs(spec, clone, batch))


def test_batch_matches_its_schema(spec):
    model, batch = spec.tiny()
    schema = getattr(model, "schema", None)
    assert schema is not None, "every model keeps the Schema it was built for"
    schema.validate(batch)
