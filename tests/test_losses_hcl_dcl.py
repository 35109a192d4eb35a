"""DCL and HCL against slow loops written from the papers' equations (as in the authors' code),
their special cases, gradients, stability at small temperatures, and bad arguments."""
from __future__ import annotations

import math

import pytest
import torch

from cl_course.losses import debiased_nt_xent, hard_negative_nt_xent, importance_weights, nt_xent


def reference_loop(z1, z2, t, tau_plus, beta):
    """Per anchor, in float64 and exp space: Ng = max((N·Σ w e^{s/t} − τ⁺N e^{s⁺/t})/(1−τ⁺), N e^{−1/t})."""
    z = torch.nn.functional.normalize(torch.cat([z1, z2]).double(), dim=1)
    n2 = z.shape[0]
    b = n2 // 2
    losses = []
    for i in range(n2):
        p = (i + b) % n2
        pos = torch.exp(z[i] @ z[p] / t)
        negs = torch.stack([torch.exp(z[i] @ z[k] / t) for k in range(n2) if k not in (i, p)])
        n = len(negs)
        imp = negs ** beta  # e^{β s/t}
        reweighted = (imp * negs).sum() / imp.mean()
        ng = (-tau_plus * n * pos + reweighted) / (1 - tau_plus)
        ng = torch.clamp(ng, min=n * math.exp(-1 / t))
        losses.append(-torch.log(pos / (pos + ng)))
    return torch.stack(losses).mean()


@pytest.mark.parametrize("batch, dim, t, tau_plus", [(2, 3, 0.5, 0.1), (5, 8, 0.5, 0.0), (8, 16, 0.2, 0.3), (6, 4, 1.0, 0.9)])
def test_debiased_nt_xent_matches_reference_loop(batch, dim, t, tau_plus):
    g = torch.Generator().manual_seed(batch)
    z1, z2 = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    want = reference_loop(z1, z2, t, tau_plus, beta=0.0)
    assert debiased_nt_xent(z1, z2, t, tau_plus).item() == pytest.approx(want.item(), rel=1e-5)


@pytest.mark.parametrize("batch, dim, t, tau_plus, beta", [(2, 3, 0.5, 0.1, 1.0), (5, 8, 0.5, 0.0, 0.5), (8, 16, 0.2, 0.1, 2.0), (6, 4, 1.0, 0.5, 3.0)])
def test_hard_negative_nt_xent_matches_reference_loop(batch, dim, t, tau_plus, beta):
    g = torch.Generator().manual_seed(10 + batch)
    z1, z2 = torch.randn(batch, dim, generator=g), torch.randn(batch, dim, generator=g)
    want = reference_loop(z1, z2, t, tau_plus, beta)
    assert hard_negative_nt_xent(z1, z2, t, tau_plus, beta).item() == pytest.approx(want.item(), rel=1e-5)


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


@pytest.mark.parametrize("beta", [-0.5, float("nan"), float("inf")])
def test_hard_negative_rejects_bad_beta(beta):
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="beta"):
        hard_negative_nt_xent(z, z, beta=beta)


def oracle_loop(z1, z2, labels, t):
    z = torch.nn.functional.normalize(torch.cat([z1, z2]).double(), dim=1)
    y = torch.cat([labels, labels])
    n2, b = z.shape[0], z.shape[0] // 2
    out = []
    for i in range(n2):
        p = (i + b) % n2
        pos = torch.exp(z[i] @ z[p] / t)
        negs = [torch.exp(z[i] @ z[k] / t) for k in range(n2) if k not in (i, p) and y[k] != y[i]]
        out.append(-torch.log(pos / (pos + sum(negs, torch.zeros((), dtype=torch.float64)))))
    return torch.stack(out).mean()


def test_oracle_nt_xent_matches_a_loop_that_skips_same_class_negatives():
    from cl_course.losses import oracle_nt_xent
    g = torch.Generator().manual_seed(11)
    z1, z2 = torch.randn(10, 8, generator=g), torch.randn(10, 8, generator=g)
    labels = torch.randint(0, 3, (10,), generator=g)
    assert oracle_nt_xent(z1, z2, labels, 0.5).item() == pytest.approx(oracle_loop(z1, z2, labels, 0.5).item(), rel=1e-5)


def test_oracle_with_all_distinct_labels_is_nt_xent_and_drops_lower_the_loss():
    from cl_course.losses import nt_xent_without, oracle_nt_xent
    g = torch.Generator().manual_seed(12)
    z1, z2 = torch.randn(8, 8, generator=g), torch.randn(8, 8, generator=g)
    torch.testing.assert_close(oracle_nt_xent(z1, z2, torch.arange(8), 0.5), nt_xent(z1, z2, 0.5))
    drop = torch.zeros(8, 8, dtype=torch.bool)
    torch.testing.assert_close(nt_xent_without(z1, z2, drop, 0.5), nt_xent(z1, z2, 0.5))
    drop[0, 1] = True
    assert nt_xent_without(z1, z2, drop, 0.5) < nt_xent(z1, z2, 0.5)


def test_oracle_rejects_bad_labels_and_masks():
    from cl_course.losses import nt_xent_without, oracle_nt_xent
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="labels"):
        oracle_nt_xent(z, z, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="drop"):
        nt_xent_without(z, z, torch.zeros(4, 4))


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
