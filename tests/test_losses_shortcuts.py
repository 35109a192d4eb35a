"""The shortcut papers' losses against loops written from their equations (float64, exp space):
nonsemantic_nt_xent (Ge et al.), biased_triplet_loss, relative_difficulty_weights and
weighted_debiased_nt_xent (WCL)."""
import math

import pytest
import torch

from cl_course.losses import (biased_triplet_loss, debiased_nt_xent, nonsemantic_nt_xent, nt_xent,
                              relative_difficulty_weights, weighted_debiased_nt_xent)


def _pair(b=6, d=8, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)
    return (z1.requires_grad_(), z2.requires_grad_()) if grad else (z1, z2)


def _unit(z1, z2):
    return torch.nn.functional.normalize(torch.cat([z1, z2]).double(), dim=1)


def _positive(i, b):
    return (i + b) % (2 * b)


def _negatives(i, b):
    return [k for k in range(2 * b) if k not in (i, _positive(i, b))]


# --- nonsemantic_nt_xent ----------------------------------------------------------------------

def nonsemantic_loop(z1, z2, zn, t, alpha):
    b = z1.shape[0]
    z = _unit(z1, z2)
    zn = torch.nn.functional.normalize((zn if zn.dim() == 3 else zn[:, None]).double(), dim=-1)
    total = 0
    for i in range(2 * b):
        p = _positive(i, b)
        denom = sum(torch.exp(z[i] @ z[k] / t) for k in range(2 * b) if k != i)
        denom = denom + sum(torch.exp(alpha * (z[i] @ zn[i % b, j]) / t) for j in range(zn.shape[1]))
        total = total - torch.log(torch.exp(z[i] @ z[p] / t) / denom)
    return total / (2 * b)


@pytest.mark.parametrize("k, t, alpha", [(1, 0.5, 2.0), (3, 0.2, 1.0), (2, 1.0, 4.0)])
def test_nonsemantic_matches_the_loop_from_the_equation(k, t, alpha):
    z1, z2 = _pair()
    zn = torch.randn(6, k, 8, generator=torch.Generator().manual_seed(1))
    assert torch.allclose(nonsemantic_nt_xent(z1, z2, zn, t, alpha).double(), nonsemantic_loop(z1, z2, zn, t, alpha),
                          atol=1e-5)


def test_nonsemantic_accepts_one_negative_per_image_as_b_by_d():
    z1, z2 = _pair()
    zn = torch.randn(6, 8)
    assert torch.allclose(nonsemantic_nt_xent(z1, z2, zn), nonsemantic_nt_xent(z1, z2, zn[:, None]))


def test_k_copies_of_one_negative_add_log_k_to_its_logit():
    # K identical copies contribute K e^{x} = e^{x + log K}: the loss equals one copy at alpha' with
    # alpha'·cos/t = alpha·cos/t + log K.
    z1, z2 = _pair()
    zn = torch.randn(6, 8, generator=torch.Generator().manual_seed(2))
    three = nonsemantic_nt_xent(z1, z2, zn[:, None].repeat(1, 3, 1), 0.5, 2.0)
    z = _unit(z1, z2).float()
    cos = (z * torch.nn.functional.normalize(zn, dim=1).repeat(2, 1)).sum(1)
    logits = z @ z.T / 0.5
    logits.fill_diagonal_(float("-inf"))
    extra = (2.0 * cos / 0.5 + math.log(3))[:, None]
    want = torch.nn.functional.cross_entropy(torch.cat([logits, extra], 1), (torch.arange(12) + 6) % 12)
    assert torch.allclose(three, want, atol=1e-5)


def test_nonsemantic_gradients_match_the_loop_and_reach_the_negatives():
    z1, z2 = _pair(grad=True)
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
    z1, z2 = _pair(b=32, d=16)
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
    z1, z2 = _pair()
    with pytest.raises(ValueError, match=match):
        nonsemantic_nt_xent(z1, z2, torch.randn(*zn_shape))


@pytest.mark.parametrize("alpha", [0, -1.0, float("nan"), float("inf")])
def test_nonsemantic_refuses_a_bad_alpha(alpha):
    z1, z2 = _pair()
    with pytest.raises(ValueError, match="alpha must be"):
        nonsemantic_nt_xent(z1, z2, torch.randn(6, 8), 0.5, alpha)


def test_nonsemantic_refuses_bad_views_and_temperature():
    z1, z2 = _pair()
    with pytest.raises(ValueError, match="temperature"):
        nonsemantic_nt_xent(z1, z2, torch.randn(6, 8), 0.0)
    with pytest.raises(ValueError, match="same shape"):
        nonsemantic_nt_xent(z1, z2[:5], torch.randn(6, 8))


# --- biased_triplet_loss ----------------------------------------------------------------------

def triplet_loop(b1, b2, tau_plus):
    b = b1.shape[0]
    z = _unit(b1, b2)
    n = 2 * b - 2
    total = 0
    for i in range(2 * b):
        d_pos = (z[i] - z[_positive(i, b)]).pow(2).sum()
        d_neg = sum((z[i] - z[k]).pow(2).sum() for k in _negatives(i, b))
        total = total + d_pos - (d_neg - tau_plus * n * d_pos) / (1 - tau_plus)
    return total / (2 * b)


@pytest.mark.parametrize("tau_plus", [0.0, 0.1, 0.5])
def test_biased_triplet_matches_the_loop(tau_plus):
    b1, b2 = _pair(seed=4)
    assert torch.allclose(biased_triplet_loss(b1, b2, tau_plus).double(), triplet_loop(b1, b2, tau_plus), atol=1e-4)


def test_biased_triplet_at_tau_plus_0_is_positive_minus_summed_negative_distances():
    b1, b2 = _pair(seed=5)
    z = _unit(b1, b2)
    dist = torch.cdist(z, z).pow(2)
    want = torch.stack([dist[i, _positive(i, 6)] - dist[i, _negatives(i, 6)].sum() for i in range(12)]).mean()
    assert torch.allclose(biased_triplet_loss(b1, b2, 0.0).double(), want, atol=1e-4)


def test_biased_triplet_gradients_match_the_loop():
    b1, b2 = _pair(seed=6, grad=True)
    biased_triplet_loss(b1, b2, 0.1).backward()
    got = b1.grad.clone(), b2.grad.clone()
    b1.grad = b2.grad = None
    triplet_loop(b1, b2, 0.1).backward()
    assert torch.allclose(got[0], b1.grad.float(), atol=1e-4) and torch.allclose(got[1], b2.grad.float(), atol=1e-4)


def test_biased_triplet_is_float32_under_bf16_autocast():
    b1, b2 = (v.bfloat16() for v in _pair(b=16, d=8, seed=21))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = biased_triplet_loss(b1, b2, 0.1)
    assert low.dtype == torch.float32
    assert torch.allclose(low, biased_triplet_loss(b1.float(), b2.float(), 0.1), atol=1e-5)


@pytest.mark.parametrize("tau_plus", [1.0, -0.1])
def test_biased_triplet_refuses_a_bad_tau_plus(tau_plus):
    with pytest.raises(ValueError, match="tau_plus"):
        biased_triplet_loss(*_pair(), tau_plus)


def test_biased_triplet_refuses_bad_shapes_naming_b1_b2():
    with pytest.raises(ValueError, match="b1 and b2 must have the same shape"):
        biased_triplet_loss(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="b1 must have shape"):
        biased_triplet_loss(torch.randn(4), torch.randn(4))
    with pytest.raises(ValueError, match="at least 2"):
        biased_triplet_loss(torch.randn(1, 8), torch.randn(1, 8))


# --- relative_difficulty_weights --------------------------------------------------------------

def weights_loop(d1, d2, b1, b2, t):
    b = d1.shape[0]
    sd, sb = (torch.exp(_unit(u1, u2) @ _unit(u1, u2).T / t) for u1, u2 in ((d1, d2), (b1, b2)))
    w = torch.ones(2 * b, 2 * b, dtype=torch.float64)
    for i in range(2 * b):
        negs = _negatives(i, b)
        nd, nb = sd[i, negs].pow(2).sum().sqrt(), sb[i, negs].pow(2).sum().sqrt()
        for k in negs:
            w[i, k] = 1 + (sd[i, k] / nd) / (sb[i, k] / nb + sd[i, k] / nd)
    return w


@pytest.mark.parametrize("t", [0.5, 0.2, 1.0])
def test_relative_difficulty_weights_match_the_loop(t):
    d1, d2 = _pair(seed=7)
    b1, b2 = _pair(d=5, seed=8)  # the biased encoder may project to another width
    assert torch.allclose(relative_difficulty_weights(d1, d2, b1, b2, t).double(), weights_loop(d1, d2, b1, b2, t),
                          atol=1e-5)


def test_relative_difficulty_weights_are_detached_and_in_1_2_on_negatives():
    d1, d2 = _pair(seed=9, grad=True)
    b1, b2 = _pair(seed=10, grad=True)
    w = relative_difficulty_weights(d1, d2, b1, b2, 0.1)
    assert not w.requires_grad and w.dtype == torch.float32
    from cl_course.losses.similarity import negative_mask
    neg = negative_mask(6, w.device)
    assert ((w[neg] >= 1) & (w[neg] < 2)).all() and (w[~neg] == 1).all()


def test_identical_encoders_give_every_negative_weight_one_and_a_half():
    d1, d2 = _pair(seed=11)
    w = relative_difficulty_weights(d1, d2, d1.clone(), d2.clone(), 0.5)
    from cl_course.losses.similarity import negative_mask
    assert torch.allclose(w[negative_mask(6, w.device)], torch.full((12 * 10,), 1.5))


def test_relative_difficulty_weights_stay_finite_at_small_temperature():
    d1, d2 = _pair(b=32, d=16, seed=12)
    b1, b2 = _pair(b=32, d=16, seed=13)
    w = relative_difficulty_weights(d1, d2, b1, b2, 0.02)
    assert torch.isfinite(w).all()
    assert torch.allclose(w.double(), weights_loop(d1, d2, b1, b2, 0.02), atol=1e-5)  # exp(50) still fits float64


def test_relative_difficulty_weights_are_float32_under_bf16_autocast():
    d1, d2 = (v.bfloat16() for v in _pair(seed=22))
    b1, b2 = (v.bfloat16() for v in _pair(seed=23))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = relative_difficulty_weights(d1, d2, b1, b2, 0.5)
    assert low.dtype == torch.float32
    assert torch.allclose(low, relative_difficulty_weights(d1.float(), d2.float(), b1.float(), b2.float(), 0.5),
                          atol=1e-6)


def test_relative_difficulty_weights_refuse_mismatched_batches():
    d1, d2 = _pair()
    b1, b2 = _pair(b=5)
    with pytest.raises(ValueError, match="same B"):
        relative_difficulty_weights(d1, d2, b1, b2)
    with pytest.raises(ValueError, match="temperature"):
        relative_difficulty_weights(d1, d2, d1, d2, -1.0)


def test_relative_difficulty_weights_refuse_bad_pairs_naming_them():
    d1, d2 = _pair()
    with pytest.raises(ValueError, match="d1 and d2 must have the same shape"):
        relative_difficulty_weights(d1, d2[:5], d1, d2)
    with pytest.raises(ValueError, match="b1 and b2 must have the same shape"):
        relative_difficulty_weights(d1, d2, d1, d2[:, :5])
    with pytest.raises(ValueError, match="at least 2"):
        relative_difficulty_weights(d1[:1], d2[:1], d1[:1], d2[:1])


# --- weighted_debiased_nt_xent ----------------------------------------------------------------

def weighted_dcl_loop(z1, z2, w, t, tau_plus):
    b = z1.shape[0]
    z = _unit(z1, z2)
    n = 2 * b - 2
    total = 0
    for i in range(2 * b):
        pos = torch.exp(z[i] @ z[_positive(i, b)] / t)
        neg = sum(w[i, k].double() * torch.exp(z[i] @ z[k] / t) for k in _negatives(i, b))
        ng = torch.clamp((neg - tau_plus * n * pos) / (1 - tau_plus), min=n * math.exp(-1 / t))
        total = total - torch.log(pos / (pos + ng))
    return total / (2 * b)


def _weights(b=6, seed=14):
    return 1 + torch.rand(2 * b, 2 * b, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("t, tau_plus", [(0.5, 0.1), (0.2, 0.0), (1.0, 0.3)])
def test_weighted_dcl_matches_the_loop(t, tau_plus):
    z1, z2 = _pair(seed=15)
    w = _weights()
    assert torch.allclose(weighted_debiased_nt_xent(z1, z2, w, t, tau_plus).double(),
                          weighted_dcl_loop(z1, z2, w, t, tau_plus), atol=1e-5)


@pytest.mark.parametrize("c", [0.25, 3.0])
def test_uniform_weights_scale_the_negative_sum(c):
    # w = c: every anchor's negative sum becomes c times DCL's; the loss moves with c.
    z1, z2 = _pair(seed=24)
    got = weighted_debiased_nt_xent(z1, z2, torch.full((12, 12), c), 0.5, 0.1)
    assert torch.allclose(got.double(), weighted_dcl_loop(z1, z2, torch.full((12, 12), c), 0.5, 0.1), atol=1e-5)
    assert (got > debiased_nt_xent(z1, z2, 0.5, 0.1)) == (c > 1)


def test_an_anchor_with_all_weights_zero_is_clamped_with_finite_gradients():
    z1, z2 = _pair(seed=25, grad=True)
    w = _weights()
    w[3] = 0.0  # anchor 3 has no weighted negative: Ng = N e^{-1/t}
    for tau_plus in (0.0, 0.1):
        z1.grad = z2.grad = None
        loss = weighted_debiased_nt_xent(z1, z2, w, 0.5, tau_plus)
        loss.backward()
        got = z1.grad.clone(), z2.grad.clone()
        z1.grad = z2.grad = None
        want = weighted_dcl_loop(z1, z2, w, 0.5, tau_plus)
        want.backward()
        assert torch.allclose(loss.double(), want, atol=1e-5)
        assert torch.isfinite(got[0]).all() and torch.isfinite(got[1]).all()
        assert torch.allclose(got[0], z1.grad.float(), atol=1e-5) and torch.allclose(got[1], z2.grad.float(), atol=1e-5)


@pytest.mark.parametrize("tau_plus", [0.0, 0.1, 0.3])
def test_all_ones_weights_give_debiased_nt_xent(tau_plus):
    z1, z2 = _pair(seed=16)
    assert torch.allclose(weighted_debiased_nt_xent(z1, z2, torch.ones(12, 12), 0.5, tau_plus),
                          debiased_nt_xent(z1, z2, 0.5, tau_plus), atol=1e-6)


def test_all_ones_weights_and_tau_plus_0_give_nt_xent():
    z1, z2 = _pair(seed=17)
    assert torch.allclose(weighted_debiased_nt_xent(z1, z2, torch.ones(12, 12), 0.5, 0.0), nt_xent(z1, z2, 0.5),
                          atol=1e-6)


def test_weights_on_self_and_positive_entries_are_ignored():
    z1, z2 = _pair(seed=18)
    w = _weights()
    w2 = w.clone()
    w2.fill_diagonal_(float("nan"))  # not validated either: these entries are never read
    w2[torch.arange(12), (torch.arange(12) + 6) % 12] = -5.0
    assert torch.equal(weighted_debiased_nt_xent(z1, z2, w, 0.5, 0.1), weighted_debiased_nt_xent(z1, z2, w2, 0.5, 0.1))


def test_weighted_dcl_gradients_match_the_loop_and_skip_the_weights():
    z1, z2 = _pair(seed=19, grad=True)
    w = _weights().requires_grad_()
    weighted_debiased_nt_xent(z1, z2, w, 0.5, 0.0).backward()
    assert w.grad is None
    got = z1.grad.clone(), z2.grad.clone()
    z1.grad = z2.grad = None
    weighted_dcl_loop(z1, z2, w.detach(), 0.5, 0.0).backward()
    assert torch.allclose(got[0], z1.grad.float(), atol=1e-5) and torch.allclose(got[1], z2.grad.float(), atol=1e-5)


def test_weighted_dcl_stays_finite_at_small_temperature_and_under_bf16():
    z1, z2 = _pair(b=32, d=16, seed=20)
    z2 = z1 + 0.05 * z2  # close views: large logits at small t
    w = _weights(32)
    z1.requires_grad_()
    loss = weighted_debiased_nt_xent(z1, z2, w, 0.02, 0.1)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all()
    lo1, lo2 = z1.detach().bfloat16(), z2.bfloat16()
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = weighted_debiased_nt_xent(lo1, lo2, w.bfloat16(), 0.02, 0.1)
    assert low.dtype == torch.float32 and torch.isfinite(low)
    assert low.item() == pytest.approx(
        weighted_debiased_nt_xent(lo1.float(), lo2.float(), w.bfloat16().float(), 0.02, 0.1).item(), rel=1e-4)


@pytest.mark.parametrize("bad, match", [(torch.ones(10, 10), "weights must have shape"),
                                        (-torch.ones(12, 12), "finite and >= 0"),
                                        (torch.full((12, 12), float("nan")), "finite and >= 0"),
                                        (torch.full((12, 12), float("inf")), "finite and >= 0"),
                                        ([[1.0] * 12] * 12, "weights must have shape")])
def test_weighted_dcl_refuses_bad_weights(bad, match):
    with pytest.raises(ValueError, match=match):
        weighted_debiased_nt_xent(*_pair(), bad)


def test_weighted_dcl_refuses_a_bad_tau_plus():
    with pytest.raises(ValueError, match="tau_plus"):
        weighted_debiased_nt_xent(*_pair(), torch.ones(12, 12), 0.5, 1.0)
