"""The capsule blocks shared by MIND and ComiRec-DR: squash and dynamic routing."""

import torch

from recnotes.layers import dynamic_routing, squash


def test_squash_keeps_the_direction_and_maps_norms_into_0_1():
    gen = torch.Generator().manual_seed(0)
    s = torch.randn(50, 8, generator=gen, dtype=torch.float64)
    s = s * torch.logspace(-3, 3, 50, dtype=torch.float64)[:, None]  # float64: 1 - 1e-6 stays < 1
    v = squash(s)
    n = s.norm(dim=-1)
    torch.testing.assert_close(v.norm(dim=-1), n**2 / (1 + n**2))  # MIND Eq. (4), by hand
    cosine = torch.nn.functional.cosine_similarity(v, s, dim=-1)
    torch.testing.assert_close(cosine, torch.ones(50, dtype=torch.float64))
    assert ((v.norm(dim=-1) >= 0) & (v.norm(dim=-1) < 1)).all()
    assert v.norm(dim=-1)[-1] > 0.999  # long vectors come close to 1 but never reach it


def test_squash_of_zero_is_zero_with_a_finite_gradient():
    s = torch.zeros(2, 4, requires_grad=True)
    v = squash(s)
    v.sum().backward()
    assert torch.equal(v, torch.zeros(2, 4)) and torch.isfinite(s.grad).all()


def routing_inputs(b=3, k=4, length=6, d=5, seed=0):
    gen = torch.Generator().manual_seed(seed)
    c_hat = torch.randn(b, k, length, d, generator=gen)
    logits = torch.randn(b, k, length, generator=gen)
    mask = torch.ones(b, length, dtype=torch.bool)
    mask[1, :2] = False  # left padding
    mask[2, :5] = False
    return c_hat, logits, mask


def test_routing_coefficients_sum_to_one_over_interests_for_each_behaviour():
    """MIND's B2I routing: softmax over the interests, per behaviour; padding gets nothing."""
    c_hat, logits, mask = routing_inputs()
    _, w = dynamic_routing(c_hat, logits, mask, iterations=3)
    torch.testing.assert_close(w.sum(dim=1), mask.float())  # 1 per real behaviour, 0 for padding
    assert not torch.allclose(w.sum(dim=2), torch.ones(3, 4))  # not a softmax over behaviours


def test_inactive_interests_take_no_share_and_stay_zero():
    c_hat, logits, mask = routing_inputs()
    active = torch.tensor([[True, True, False, False], [True] * 4, [True, False, False, False]])
    u, w = dynamic_routing(c_hat, logits, mask, interest_mask=active)
    torch.testing.assert_close(w.sum(dim=1), mask.float())
    assert (w[~active] == 0).all() and (u[~active] == 0).all()
    assert (u[active].norm(dim=-1) > 0).all()


def test_one_iteration_from_zero_logits_is_the_squashed_uniform_average():
    """With b = 0 every behaviour splits evenly: u_k = squash(sum_i c_hat_{k,i} / K)."""
    c_hat, _, mask = routing_inputs()
    u, _ = dynamic_routing(c_hat, torch.zeros(3, 4, 6), mask, iterations=1)
    expected = squash((c_hat * mask[:, None, :, None]).sum(2) / 4)
    torch.testing.assert_close(u, expected)


def test_the_logit_update_is_the_agreement_of_prediction_and_interest():
    """Two iterations by hand: b' = b + <c_hat, u>, then the weighted sum again."""
    c_hat, logits, mask = routing_inputs(seed=1)
    u1, _ = dynamic_routing(c_hat, logits, mask, iterations=1)
    b2 = logits + (c_hat * u1.unsqueeze(2)).sum(-1)
    w2 = torch.softmax(b2, dim=1) * mask[:, None, :]
    expected = squash((w2.unsqueeze(-1) * c_hat).sum(2))
    u2, _ = dynamic_routing(c_hat, logits, mask, iterations=2)
    torch.testing.assert_close(u2, expected)


def test_detach_early_cuts_the_gradient_through_the_early_iterations_only():
    c_hat, logits, mask = routing_inputs(seed=2)
    grads = []
    for detach in (False, True):
        x = c_hat.clone().requires_grad_(True)
        u, _ = dynamic_routing(x, logits, mask, iterations=3, detach_early=detach)
        u.sum().backward()
        grads.append(x.grad)
    assert torch.isfinite(grads[1]).all() and grads[1].abs().sum() > 0
    assert not torch.allclose(grads[0], grads[1])
