"""A multi-layer perceptron: the block almost every deep recommender ends with."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["MLP", "xavier_linears_"]

_ACTIVATIONS = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "prelu": nn.PReLU,
}


class MLP(nn.Module):
    """``Linear -> [BatchNorm] -> activation -> Dropout`` for each hidden width, then an optional output layer.

    Args:
        in_dim: input width.
        hidden: widths of the hidden layers (may be empty).
        out_dim: width of a final linear layer without activation, or None for no output layer.
        activation: ``"relu"``, ``"gelu"``, ``"tanh"``, ``"sigmoid"`` or ``"prelu"``.
        dropout: dropout after each hidden activation.
        batch_norm: batch normalisation before each hidden activation.

    Shapes:
        ``(..., in_dim) -> (..., out_dim or hidden[-1] or in_dim)``

    Example:
        >>> import torch
        >>> mlp = MLP(8, [16, 4], out_dim=1)
        >>> mlp(torch.zeros(3, 8)).shape
        torch.Size([3, 1])
    """

    def __init__(
        self,
        in_dim: int,
        hidden: Sequence[int] = (),
        out_dim: int | None = None,
        *,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        if in_dim < 1:
            raise ValueError(f"in_dim must be >= 1, got {in_dim}")
        if any(h < 1 for h in hidden):
            raise ValueError(f"hidden widths must be >= 1, got {list(hidden)}")
        if activation not in _ACTIVATIONS:
            raise ValueError(
                f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}"
            )
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers.append(nn.Linear(width, h))
            if batch_norm:
                layers.append(nn.BatchNorm1d(h))
            layers.append(_ACTIVATIONS[activation]())
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        if out_dim is not None:
            layers.append(nn.Linear(width, out_dim))
            width = out_dim
        self.net = nn.Sequential(*layers)
        self.in_dim, self.out_dim = in_dim, width

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() > 2 and any(isinstance(m, nn.BatchNorm1d) for m in self.net):
            shape = x.shape
            return self.net(x.reshape(-1, shape[-1])).reshape(*shape[:-1], self.out_dim)
        return self.net(x)


def xavier_linears_(module: nn.Module) -> nn.Module:
    """Xavier-normal weights and zero biases for every ``nn.Linear`` inside ``module``, in place.

    FuxiCTR's initialisation of dense layers, behind the BARS numbers; PyTorch's default draws
    weights and biases from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``, a smaller scale. Returns
    ``module``.

    Example:
        >>> mlp = xavier_linears_(MLP(400, [400], out_dim=1))  # std sqrt(2 / (400 + 400)) = 0.05
        >>> float(mlp.net[0].bias.abs().sum()), round(float(mlp.net[0].weight.std()), 2)
        (0.0, 0.05)
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            nn.init.xavier_normal_(layer.weight)
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)
    return module
