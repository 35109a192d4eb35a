"""Ge et al.'s loss (cl_course.losses.nonsemantic) against a loop from the equation, gradients and bad arguments."""
import math

import pytest
import torch

from cl_course.losses import (
    nonsemantic_logits,
    nonsemantic_nt_xent,
)

from .reference_loops import pair, positive_of, unit


def nonsemantic_loop(z1, z2, zn, t, alpha):
    b = z1.shape[0]
    z = unit(z1, z2)
    zn = torch.nn.functional.normalize((zn if zn.dim() == 3 else zn[:, None]).double(), dim=-1)
    total = 0
    for i in range(2 * b):
        p = positive_of(i, b)
        denom = sum(torch.exp(z[i] @ z[k] / t) for k in range(2 * b) if k != i)
        denom = denom + sum(torch.exp(alpha * (z[i] @ zn[i % b, j]) / t) for j in range(zn.shape[1]))
        total = total - torch.log(torch.exp(z[i] @ z[p] / t) / denom)
    return total / (2 * b)


@pytest.mark.parametrize("k, t, alpha", [(1, 0.5, 2.0), (3, 0.2, 1.0), (2, 1.0, 4.0)])
def test_nonsemantic_matches_the_loop_from_the_equation(k, t, alpha):
    z1, z2 = pair()
    zn = torch.randn(6, k, 8, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(nonsemantic_nt_xent(z1, z2, zn, t, alpha).double(), nonsemantic_loop(z1, z2, zn, t, alpha),
                          atol=1e-5)


def test_nonsemantic_logits_are_the_cosines_over_t_and_the_copies_scaled_by_alpha():
    z1, z2 = pair()
    zn = torch.randn(6, 2, 8, generator=torch.Generator().manual_seed(2))
    logits, copies = nonsemantic_logits(z1, z2, zn, 0.2, 3.0)
    z = unit(z1, z2)
    zu = torch.nn.functional.normalize(zn.double(), dim=-1)
    want = z @ z.T / 0.2
    assert torch.isinf(logits.diagonal()).all() and (logits.diagonal() < 0).all()
    off = ~torch.eye(12, dtype=torch.bool)
    assert torch.allclose(logits[off].double(), want[off], atol=1e-5)
    for i in range(12):
        assert torch.allclose(copies[i].double(), 3.0 * (zu[i % 6] @ z[i]) / 0.2, atol=1e-5)
    with pytest.raises(ValueError, match="z_neg must have shape"):
        nonsemantic_logits(z1, z2, zn[:3], 0.2, 3.0)


def test_nonsemantic_accepts_one_negative_per_image_as_b_by_d():
    z1, z2 = pair()
    zn = torch.randn(6, 8)
    assert torch.allclose(nonsemantic_nt_xent(z1, z2, zn), nonsemantic_nt_xent(z1, z2, zn[:, None]))


def test_k_copies_of_one_negative_add_log_k_to_its_logit():
    # K identical copies contribute K e^{x} = e^{x + log K}: the loss equals one copy at alpha' with
    # alpha'·cos/t = alpha·cos/t + log K.
    z1, z2 = pair()
    zn = torch.randn(6, 8, generator=torch.Generator().manual_seed(2))
    three = nonsemantic_nt_xent(z1, z2, zn[:, None].repeat(1, 3, 1), 0.5, 2.0)
    z = unit(z1, z2).float()
    cos = (z * torch.nn.functional.normalize(zn, dim=1).repeat(2, 1)).sum(1)
    logits = z @ z.T / 0.5
    logits.fill_diagonal_(float("-inf"))
    extra = (2.0 * cos / 0.5 + math.log(3))[:, None]
    want = torch.nn.functional.cross_entropy(torch.cat([logits, extra], 1), (torch.arange(12) + 6) % 12)
    assert torch.allclose(three, want, atol=1e-5)


def test_nonsemantic_gradients_match_the_loop_and_reach_the_negatives():
    z1, z2 = pair(grad=True)
    zn = torch.randn(6, 2, 8, generator=torch.Generator().manual_seed(3), requires_grad=True)
    nonsemantic_nt_xent(z1, z2, zn, 0.5, 2.0).backward()
    got = [z1.grad.clone(), z2.grad.clone(), zn.grad.clone()]
    for v in (z1, z2, zn):
        v.grad = None
    nonsemantic_loop(z1, z2, zn, 0.5, 2.0).backward()
    for a, b in zip(got, [z1.grad, z2.grad, zn.grad]):
        assert torch.allclose(a, b.float(), atol=1e-5)
    assert got[2].abs().sum() > 0


def test_nonsemantic_stays_finite_at_small_temperature_and_under_bf16_autocast():
    z1, z2 = pair(b=32, d=16)
    zn = (z1 + 0.01 * torch.randn(32, 16)).requires_grad_()  # copies very close to the anchors: large logits
    z1.requires_grad_()
    loss = nonsemantic_nt_xent(z1, z2, zn, 0.02, 4.0)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all() and torch.isfinite(zn.grad).all()
    z1, zn = z1.detach(), zn.detach()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = nonsemantic_nt_xent(z1, z2, zn, 0.5, 2.0)
    assert out.dtype == torch.float32 and torch.allclose(out, nonsemantic_nt_xent(z1, z2, zn, 0.5, 2.0), atol=1e-5)


@pytest.mark.parametrize("zn_shape, match", [((5, 8), "z_neg must have shape"), ((6, 0, 8), "z_neg must have shape"),
                                             ((6, 1, 7), "z_neg must have shape"), ((6, 2, 2, 8), "z_neg must have shape")])
def test_nonsemantic_refuses_bad_negative_shapes(zn_shape, match):
    z1, z2 = pair()
    with pytest.raises(ValueError, match=match):
        nonsemantic_nt_xent(z1, z2, torch.randn(*zn_shape))


@pytest.mark.parametrize("alpha", [0, -1.0, float("nan"), float("inf")])
def test_nonsemantic_refuses_a_bad_alpha(alpha):
    z1, z2 = pair()
    with pytest.raises(ValueError, match="alpha must be"):
        nonsemantic_nt_xent(z1, z2, torch.randn(6, 8), 0.5, alpha)


def test_nonsemantic_refuses_bad_views_and_temperature():
    z1, z2 = pair()
    with pytest.raises(ValueError, match="temperature"):
        nonsemantic_nt_xent(z1, z2, torch.randn(6, 8), 0.0)
    with pytest.raises(ValueError, match="same shape"):
        nonsemantic_nt_xent(z1, z2[:5], torch.randn(6, 8))
