"""Capsule blocks shared by the multi-interest retrievers: the squash and dynamic routing.

MIND (Li et al., CIKM 2019) and ComiRec-DR (Cen et al., KDD 2020) both cluster a user's behaviours
into ``K`` interest capsules by dynamic routing (Sabour et al., NeurIPS 2017). Each behaviour
capsule ``i`` sends a prediction ``c_hat_{k,i}`` to each interest ``k``; routing logits ``b_{k,i}``
decide how much of behaviour ``i`` goes to interest ``k``. The two models differ in how the
predictions are made (one shared bilinear map in MIND, one map per position and interest in
ComiRec-DR) and in how the logits start (random in MIND, zero in ComiRec-DR); the routing loop
below is what they share.

**Which axis the softmax runs over.** The coupling coefficients are ``w_{k,i} = softmax_k(b_{k,i})``:
for each behaviour, a distribution over the interests (MIND's Algorithm 1; ComiRec's code
softmaxes over its interest axis too). Padding behaviours get weight 0 and inactive interests
(MIND's dynamic interest number) get no share of any behaviour.

Shape legend: ``B`` batch, ``K`` interests, ``L`` behaviours (history length), ``D`` capsule dim.
"""

from __future__ import annotations

import torch

__all__ = ["squash", "dynamic_routing"]


def squash(s: torch.Tensor, dim: int = -1, eps: float = 1e-9) -> torch.Tensor:
    """The capsule non-linearity ``||s||^2 / (1 + ||s||^2) * s / ||s||`` (Eq. (4) of the MIND note).

    Keeps the direction of ``s`` and maps its norm into ``[0, 1)``; a zero vector stays zero (the
    ``eps`` under the square root keeps the value and its gradient finite there).

    Example:
        >>> v = squash(torch.tensor([[3.0, 4.0], [0.0, 0.0]]))
        >>> round(float(v[0].norm()), 4), v[1].tolist()  # 25 / 26
        (0.9615, [0.0, 0.0])
    """
    sq = (s * s).sum(dim=dim, keepdim=True)
    return sq / (1.0 + sq) * s / torch.sqrt(sq + eps)


# --8<-- [start:routing]
def dynamic_routing(
    predictions: torch.Tensor,
    logits: torch.Tensor,
    mask: torch.Tensor,
    *,
    iterations: int = 3,
    interest_mask: torch.Tensor | None = None,
    detach_early: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Route behaviour capsules to interest capsules (MIND's Algorithm 1; ComiRec-DR).

    Each iteration: ``w = softmax_k(b)`` (padding behaviours and inactive interests get 0),
    ``z_k = sum_i w_{k,i} c_hat_{k,i}``, ``u_k = squash(z_k)``, and, except after the last,
    ``b_{k,i} += <c_hat_{k,i}, u_k>``.

    Args:
        predictions: ``(B, K, L, D)`` the behaviours' predictions ``c_hat`` for each interest.
            MIND's shared bilinear map gives the same prediction for every ``k``: pass an
            ``expand``-ed ``(B, 1, L, D)`` tensor.
        logits: ``(B, K, L)`` initial routing logits ``b`` (a fresh tensor per call: routing
            logits are never carried from one batch to the next).
        mask: ``(B, L)`` true for real behaviours, false for padding.
        iterations: routing iterations (both papers: 3).
        interest_mask: ``(B, K)`` true for the interests a user has (default: all).
        detach_early: no gradient through the predictions in the iterations before the last, as
            in ComiRec's code (MIND lets the gradient through every iteration).

    Returns:
        ``interests (B, K, D)`` (zero for inactive interests) and the last coupling coefficients
        ``w (B, K, L)``.

    Example:
        >>> c_hat = torch.randn(2, 1, 5, 4).expand(2, 3, 5, 4)
        >>> mask = torch.tensor([[True] * 5, [False, False, True, True, True]])
        >>> u, w = dynamic_routing(c_hat, torch.randn(2, 3, 5), mask)
        >>> u.shape, torch.allclose(w.sum(1), mask.float())
        (torch.Size([2, 3, 4]), True)
    """
    if iterations < 1:
        raise ValueError(f"routing needs at least one iteration, got {iterations}")
    b = logits
    if interest_mask is not None:  # an inactive interest takes no share of any behaviour
        b = b.masked_fill(~interest_mask[:, :, None], float("-inf"))
    behaviour = mask[:, None, :].to(predictions.dtype)  # (B, 1, L): padding must not vote
    for r in range(iterations):
        last = r == iterations - 1
        c_hat = predictions if (last or not detach_early) else predictions.detach()
        w = torch.softmax(b, dim=1) * behaviour  # (B, K, L), sums to 1 over K for each behaviour
        z = (w.unsqueeze(-1) * c_hat).sum(dim=2)  # (B, K, D)
        u = squash(z)  # (B, K, D)
        if not last:
            b = b + (c_hat * u.unsqueeze(2)).sum(-1)  # (B, K, L): agreement raises the logit
    return u, w


# --8<-- [end:routing]
