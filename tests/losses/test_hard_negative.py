"""HCL (cl_course.losses.hard_negative) against a slow loop, its special cases, the fused tilted log-sum-exp, and bad beta."""
from __future__ import annotations

import math

import pytest
import torch

from cl_course.losses import (
    debiased_nt_xent,
    hard_negative_nt_xent,
    importance_weights,
    nt_xent,
)

from .reference_loops import reference_loop


@pytest.mark.parametrize("batch, dim, t, tau_plus, beta", [(2, 3, 0.5, 0.1, 1.0), (5, 8, 0.5, 0.0, 0.5), (8, 16, 0.2, 0.1, 2.0), (6, 4, 1.0, 0.5, 3.0)])
def test_hard_negative_nt_xent_matches_reference_loop(batch, dim, t, tau_plus, beta):
    g = torch.Generator().manual_seed(10 + batch)
    z1, z2 = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    want = reference_loop(z1, z2, t, tau_plus, beta)
    assert hard_negative_nt_xent(z1, z2, t, tau_plus, beta).item() == pytest.approx(want.item(), rel=1e-5)


def test_hard_negative_equals_debiased_at_beta_zero_and_nt_xent_at_both_zero():
    g = torch.Generator().manual_seed(5)
    z1, z2 = torch.randn(16, 32, generator=g), torch.randn(16, 32, generator=g)
    torch.testing.assert_close(hard_negative_nt_xent(z1, z2, 0.5, 0.1, 0.0), debiased_nt_xent(z1, z2, 0.5, 0.1))
    torch.testing.assert_close(hard_negative_nt_xent(z1, z2, 0.5, 0.0, 0.0), nt_xent(z1, z2, 0.5), atol=1e-6, rtol=1e-6)


def test_beta_changes_the_loss_and_weights_concentrate_on_similar_negatives():
    g = torch.Generator().manual_seed(6)
    z1, z2 = torch.randn(16, 32, generator=g), torch.randn(16, 32, generator=g)
    assert hard_negative_nt_xent(z1, z2, 0.5, 0.1, 2.0) != hard_negative_nt_xent(z1, z2, 0.5, 0.1, 0.0)
    w = importance_weights(z1, z2, 0.5, beta=2.0)  # (2B, N)
    assert w.shape == (32, 30)
    torch.testing.assert_close(w.mean(dim=1), torch.ones(32))
    # Within each anchor, weight grows with similarity.
    from cl_course.losses.debiased import split_logits
    _, neg = split_logits(z1, z2, 0.5)
    order = neg.argsort(dim=1)
    assert torch.all(torch.diff(torch.gather(w, 1, order), dim=1) >= 0)
    torch.testing.assert_close(importance_weights(z1, z2, 0.5, beta=0.0), torch.ones(32, 30))


def test_hcl_weights_are_not_detached_gradient_flows_through_them():
    # With tau_plus = 0 and beta > 0, detaching the weights would give a different gradient.
    g = torch.Generator().manual_seed(8)
    a, b = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    z1 = a.clone().requires_grad_()
    hard_negative_nt_xent(z1, b, 0.5, 0.0, 2.0).backward()
    from cl_course.losses.debiased import debiased_loss, split_logits
    z1d = a.clone().requires_grad_()
    pos, neg = split_logits(z1d, b, 0.5)
    log_w = (torch.log_softmax(2.0 * neg, dim=1) + math.log(neg.shape[1])).detach()
    debiased_loss(pos, torch.logsumexp(neg + log_w, dim=1), neg.shape[1], 0.5, 0.0).backward()
    assert not torch.allclose(z1.grad, z1d.grad, atol=1e-6)


@pytest.mark.parametrize("beta", [-0.5, float("nan"), float("inf")])
def test_hard_negative_rejects_bad_beta(beta):
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="beta"):
        hard_negative_nt_xent(z, z, beta=beta)


@pytest.mark.parametrize("beta", [0.5, 1.0, 3.0])
def test_fused_tilted_logsumexp_matches_two_logsumexps_in_value_and_gradient(beta):
    from cl_course.losses.hard_negative import _TiltedLogSumExp
    g = torch.Generator().manual_seed(13)
    x = (torch.randn(6, 9, generator=g, dtype=torch.float64) * 3)
    mask = torch.ones(6, 9, dtype=torch.bool)
    mask[torch.arange(6), torch.arange(6)] = False  # entries that are not negatives
    a, b = x.clone().requires_grad_(), x.clone().requires_grad_()
    fused = _TiltedLogSumExp.apply(a, mask, beta)
    masked = b.masked_fill(~mask, float("-inf"))
    plain = torch.logsumexp((1 + beta) * masked, dim=1) - torch.logsumexp(beta * masked, dim=1)
    torch.testing.assert_close(fused, plain)
    w = torch.randn(6, generator=g, dtype=torch.float64)
    (fused * w).sum().backward()
    (plain * w).sum().backward()
    torch.testing.assert_close(a.grad, b.grad)
    assert torch.all(a.grad[torch.arange(6), torch.arange(6)] == 0)
