"""DCL (cl_course.losses.debiased) against a slow loop from the paper's equation, its special cases, gradients, stability and bad arguments (HCL shares the parametrised checks)."""
from __future__ import annotations

import math

import pytest
import torch

from cl_course.losses import (
    debiased_nt_xent,
    hard_negative_nt_xent,
    nt_xent,
)

from .reference_loops import reference_loop


@pytest.mark.parametrize("batch, dim, t, tau_plus", [(2, 3, 0.5, 0.1), (5, 8, 0.5, 0.0), (8, 16, 0.2, 0.3), (6, 4, 1.0, 0.9)])
def test_debiased_nt_xent_matches_reference_loop(batch, dim, t, tau_plus):
    g = torch.Generator().manual_seed(batch)
    z1, z2 = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    want = reference_loop(z1, z2, t, tau_plus, beta=0.0)
    assert debiased_nt_xent(z1, z2, t, tau_plus).item() == pytest.approx(want.item(), rel=1e-5)


def test_clamp_is_active_when_the_positive_dominates_and_matches_the_reference():
    # Identical views: e^{s+/t} = e^{1/t} is large, so the corrected sum goes below N e^{-1/t}.
    g = torch.Generator().manual_seed(3)
    z = torch.randn(6, 8, generator=g)
    loss = debiased_nt_xent(z, z, temperature=0.5, tau_plus=0.5)
    n = 10
    expected = -math.log(math.exp(2) / (math.exp(2) + n * math.exp(-2)))  # every anchor clamped
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    assert loss.item() == pytest.approx(reference_loop(z, z, 0.5, 0.5, 0.0).item(), rel=1e-5)


def test_debiased_equals_nt_xent_at_tau_plus_zero():
    g = torch.Generator().manual_seed(4)
    z1, z2 = torch.randn(16, 32, generator=g), torch.randn(16, 32, generator=g)
    for t in (0.1, 0.5, 1.0):
        torch.testing.assert_close(debiased_nt_xent(z1, z2, t, 0.0), nt_xent(z1, z2, t), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("loss_fn, kwargs", [(debiased_nt_xent, dict(tau_plus=0.1)), (hard_negative_nt_xent, dict(tau_plus=0.1, beta=1.0))])
def test_gradients_match_the_reference_loop(loss_fn, kwargs):
    g = torch.Generator().manual_seed(7)
    a, b = torch.randn(6, 8, generator=g), torch.randn(6, 8, generator=g)
    z1, z2 = a.clone().requires_grad_(), b.clone().requires_grad_()
    loss_fn(z1, z2, 0.5, **kwargs).backward()
    r1, r2 = a.double().requires_grad_(), b.double().requires_grad_()
    reference_loop(r1, r2, 0.5, kwargs["tau_plus"], kwargs.get("beta", 0.0)).backward()
    torch.testing.assert_close(z1.grad.double(), r1.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(z2.grad.double(), r2.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("loss_fn", [debiased_nt_xent, hard_negative_nt_xent])
def test_finite_at_temperature_002_and_under_bf16_autocast(loss_fn):
    g = torch.Generator().manual_seed(9)
    z1, z2 = torch.randn(64, 128, generator=g), torch.randn(64, 128, generator=g)
    z2 = z1 + 0.05 * z2  # close views: large logits at small t
    z1.requires_grad_()
    loss = loss_fn(z1, z2, temperature=0.02)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = loss_fn(z1.bfloat16(), z2.bfloat16(), temperature=0.02)
    assert torch.isfinite(low)
    assert low.item() == pytest.approx(loss_fn(z1.bfloat16().float(), z2.bfloat16().float(), temperature=0.02).item(), rel=1e-4)


@pytest.mark.parametrize("loss_fn", [debiased_nt_xent, hard_negative_nt_xent])
@pytest.mark.parametrize("kwargs, message", [
    (dict(tau_plus=1.0), "tau_plus"), (dict(tau_plus=-0.1), "tau_plus"), (dict(temperature=0.0), "temperature"),
    (dict(temperature=-1.0), "temperature")])
def test_bad_arguments_raise_value_error_naming_them(loss_fn, kwargs, message):
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match=message):
        loss_fn(z, z, **kwargs)


@pytest.mark.parametrize("loss_fn", [debiased_nt_xent, hard_negative_nt_xent])
def test_bad_shapes_raise_value_error(loss_fn):
    with pytest.raises(ValueError, match="same shape"):
        loss_fn(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="at least 2"):
        loss_fn(torch.randn(1, 8), torch.randn(1, 8))
