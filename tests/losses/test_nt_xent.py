"""nt_xent against a slow loop written from SimCLR's equation, its invariances, gradients,
numerical robustness and argument checks."""
from __future__ import annotations

import math

import pytest
import torch

from cl_course.losses import nt_xent


def reference_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """SimCLR eq. (1), one anchor at a time:
    l_i = -log( exp(s_ip/t) / sum_{k != i} exp(s_ik/t) ), s = cosine similarity, mean over 2B anchors."""
    z = torch.cat([z1, z2])
    n = z.shape[0]
    batch = n // 2

    def cos(a, b):
        return (a * b).sum() / (a.norm() * b.norm())

    total = 0.0
    for i in range(n):
        p = (i + batch) % n
        numerator = torch.exp(cos(z[i], z[p]) / temperature)
        denominator = sum(torch.exp(cos(z[i], z[k]) / temperature) for k in range(n) if k != i)
        total = total - torch.log(numerator / denominator)
    return total / n


@pytest.mark.parametrize("batch, dim, temperature", [(2, 3, 0.5), (5, 8, 0.1), (8, 16, 1.0), (6, 4, 0.02)])
def test_nt_xent_matches_reference_loop(batch, dim, temperature):
    gen = torch.Generator().manual_seed(batch * 100 + dim)
    z1 = torch.randn(batch, dim, generator=gen)
    z2 = z1 + 0.7 * torch.randn(batch, dim, generator=gen)
    got = nt_xent(z1, z2, temperature=temperature)
    want = reference_nt_xent(z1.double(), z2.double(), temperature)
    assert got.shape == ()
    assert got.item() == pytest.approx(want.item(), rel=1e-5, abs=1e-6)


def test_nt_xent_default_temperature_is_half():
    gen = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(4, 6, generator=gen), torch.randn(4, 6, generator=gen)
    assert nt_xent(z1, z2).item() == pytest.approx(reference_nt_xent(z1.double(), z2.double(), 0.5).item(), rel=1e-5)


def test_nt_xent_is_invariant_to_row_scaling():
    gen = torch.Generator().manual_seed(2)
    z1, z2 = torch.randn(6, 5, generator=gen), torch.randn(6, 5, generator=gen)
    scale1 = torch.rand(6, 1, generator=gen) * 100 + 0.01
    scale2 = torch.rand(6, 1, generator=gen) * 100 + 0.01
    torch.testing.assert_close(nt_xent(z1 * scale1, z2 * scale2, 0.3), nt_xent(z1, z2, 0.3), rtol=1e-5, atol=1e-6)


def test_nt_xent_is_symmetric_in_the_two_views():
    gen = torch.Generator().manual_seed(3)
    z1, z2 = torch.randn(7, 5, generator=gen), torch.randn(7, 5, generator=gen)
    torch.testing.assert_close(nt_xent(z1, z2, 0.4), nt_xent(z2, z1, 0.4), rtol=1e-6, atol=1e-6)


def test_nt_xent_is_invariant_to_a_joint_permutation_of_the_batch():
    gen = torch.Generator().manual_seed(4)
    z1, z2 = torch.randn(8, 5, generator=gen), torch.randn(8, 5, generator=gen)
    perm = torch.randperm(8, generator=gen)
    torch.testing.assert_close(nt_xent(z1[perm], z2[perm], 0.4), nt_xent(z1, z2, 0.4), rtol=1e-6, atol=1e-6)


def test_nt_xent_depends_on_which_rows_are_paired():
    gen = torch.Generator().manual_seed(5)
    z1 = torch.randn(8, 5, generator=gen)
    z2 = z1 + 0.1 * torch.randn(8, 5, generator=gen)
    assert nt_xent(z1, z2, 0.5) < nt_xent(z1, z2.roll(1, dims=0), 0.5)


@pytest.mark.parametrize("temperature", [0.1, 0.5])
def test_nt_xent_gradient_matches_reference_loop(temperature):
    gen = torch.Generator().manual_seed(6)
    a1, a2 = torch.randn(4, 5, generator=gen), torch.randn(4, 5, generator=gen)
    z1, z2 = a1.clone().requires_grad_(), a2.clone().requires_grad_()
    r1, r2 = a1.clone().requires_grad_(), a2.clone().requires_grad_()
    nt_xent(z1, z2, temperature).backward()
    reference_nt_xent(r1.double(), r2.double(), temperature).backward()
    torch.testing.assert_close(z1.grad, r1.grad, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(z2.grad, r2.grad, rtol=1e-4, atol=1e-5)
    assert z1.grad.abs().sum() > 0


def test_nt_xent_gradient_passes_gradcheck_through_the_float32_cast():
    # nt_xent computes in float32 whatever the input dtype; gradcheck at float32 precision.
    gen = torch.Generator().manual_seed(7)
    z1 = torch.randn(3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    z2 = torch.randn(3, 4, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: nt_xent(a, b, 0.5).double(), (z1, z2),
                                    eps=1e-3, atol=5e-3, rtol=5e-3)


def test_nt_xent_perfectly_aligned_orthogonal_batch_beats_random_projections():
    batch, dim, t = 4, 8, 0.5
    aligned = torch.eye(batch, dim)
    gen = torch.Generator().manual_seed(8)
    random_loss = nt_xent(torch.randn(batch, dim, generator=gen), torch.randn(batch, dim, generator=gen), t)
    aligned_loss = nt_xent(aligned, aligned.clone(), t)
    # Positive similarity 1, every negative 0: l = -log(e^{1/t} / (e^{1/t} + 2B - 2)).
    expected = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2 * batch - 2))
    assert aligned_loss.item() == pytest.approx(expected, rel=1e-5)
    assert aligned_loss < random_loss


def test_nt_xent_is_finite_and_accurate_at_temperature_002_with_large_similarities():
    gen = torch.Generator().manual_seed(9)
    base = torch.randn(16, 32, generator=gen)
    # Huge norms, every row nearly the same direction: |s/t| ~ 50 everywhere.
    z1 = (base[:1] + 0.05 * base).mul(1e4).requires_grad_()
    z2 = (base[:1] + 0.05 * base.flip(0)).mul(1e4).requires_grad_()
    loss = nt_xent(z1, z2, temperature=0.02)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()
    want = reference_nt_xent(z1.detach().double(), z2.detach().double(), 0.02)
    assert loss.item() == pytest.approx(want.item(), rel=1e-4, abs=1e-4)


def test_nt_xent_is_finite_when_views_are_identical_at_small_temperature():
    z = torch.randn(8, 16, generator=torch.Generator().manual_seed(10))
    loss = nt_xent(z, z.clone(), temperature=0.02)
    assert torch.isfinite(loss) and loss >= 0


def test_nt_xent_is_finite_under_bf16_autocast():
    gen = torch.Generator().manual_seed(11)
    z1 = torch.randn(32, 16, generator=gen).requires_grad_()
    z2 = (z1.detach() + 3.0 * torch.randn(32, 16, generator=gen)).requires_grad_()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = nt_xent(z1, z2, temperature=0.02)
    loss.backward()
    assert torch.isfinite(loss)
    assert torch.isfinite(z1.grad).all() and torch.isfinite(z2.grad).all()


def test_nt_xent_under_bf16_autocast_takes_similarities_in_float32():
    # The docstring (and docs/architecture.md) promise float32 similarities even under bf16 autocast, so the
    # autocast loss must equal the float32 one to float32 accuracy, not to bf16's 3 digits.
    gen = torch.Generator().manual_seed(12)
    z1 = torch.randn(64, 32, generator=gen)
    z2 = z1 + 3.0 * torch.randn(64, 32, generator=gen)
    plain = nt_xent(z1, z2, temperature=0.02)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = nt_xent(z1, z2, temperature=0.02)
    assert mixed.dtype == torch.float32
    assert mixed.item() == pytest.approx(plain.item(), rel=1e-5)


def test_nt_xent_rejects_shape_mismatch_naming_z1_and_z2():
    with pytest.raises(ValueError, match=r"z1 and z2 must have the same shape"):
        nt_xent(torch.randn(4, 3), torch.randn(4, 5))


@pytest.mark.parametrize("which", ["z1", "z2"])
def test_nt_xent_rejects_1d_input_naming_the_argument(which):
    args = {"z1": torch.randn(4, 3), "z2": torch.randn(4, 3)}
    args[which] = torch.randn(4)
    with pytest.raises(ValueError, match=rf"{which} must have shape \(B, D\)"):
        nt_xent(**args)


def test_nt_xent_rejects_a_batch_of_one():
    with pytest.raises(ValueError, match=r"batch size B must be at least 2"):
        nt_xent(torch.randn(1, 3), torch.randn(1, 3))


@pytest.mark.parametrize("temperature", [0.0, -0.5, float("nan"), float("inf")])
def test_nt_xent_rejects_non_positive_or_non_finite_temperature(temperature):
    with pytest.raises(ValueError, match=r"temperature must be > 0"):
        nt_xent(torch.randn(4, 3), torch.randn(4, 3), temperature=temperature)
