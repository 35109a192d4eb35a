"""WCL's losses (cl_course.losses.wcl): the triplet loss, the relative-difficulty weights and the weighted DCL against loops."""
import math

import pytest
import torch

from cl_course.losses import (
    biased_triplet_loss,
    debiased_nt_xent,
    nt_xent,
    relative_difficulty_weights,
    unit_squared_distances,
    weighted_debiased_nt_xent,
)

from .reference_loops import negatives_of, pair, positive_of, unit


def triplet_loop(b1, b2, tau_plus):
    b = b1.shape[0]
    z = unit(b1, b2)
    n = 2 * b - 2
    total = 0
    for i in range(2 * b):
        d_pos = (z[i] - z[positive_of(i, b)]).pow(2).sum()
        d_neg = sum((z[i] - z[k]).pow(2).sum() for k in negatives_of(i, b))
        total = total + d_pos - (d_neg - tau_plus * n * d_pos) / (1 - tau_plus)
    return total / (2 * b)


@pytest.mark.parametrize("tau_plus", [0.0, 0.1, 0.5])
def test_biased_triplet_matches_the_loop(tau_plus):
    b1, b2 = pair(seed=4)
    assert torch.allclose(biased_triplet_loss(b1, b2, tau_plus).double(), triplet_loop(b1, b2, tau_plus), atol=1e-4)


def test_unit_squared_distances_are_the_squared_euclidean_distances_of_unit_rows():
    z1, z2 = pair()
    dist, d_pos = unit_squared_distances(z1, z2)
    z = unit(z1, z2)
    assert torch.allclose(dist.double(), torch.cdist(z, z).pow(2), atol=1e-5)
    assert torch.allclose(d_pos.double(), torch.stack([dist[i, positive_of(i, 6)] for i in range(12)]).double())
    assert dist.min() >= 0


def test_biased_triplet_at_tau_plus_0_is_positive_minus_summed_negative_distances():
    b1, b2 = pair(seed=5)
    z = unit(b1, b2)
    dist = torch.cdist(z, z).pow(2)
    want = torch.stack([dist[i, positive_of(i, 6)] - dist[i, negatives_of(i, 6)].sum() for i in range(12)]).mean()
    assert torch.allclose(biased_triplet_loss(b1, b2, 0.0).double(), want, atol=1e-4)


def test_biased_triplet_gradients_match_the_loop():
    b1, b2 = pair(seed=6, grad=True)
    biased_triplet_loss(b1, b2, 0.1).backward()
    got = b1.grad.clone(), b2.grad.clone()
    b1.grad = b2.grad = None
    triplet_loop(b1, b2, 0.1).backward()
    assert torch.allclose(got[0], b1.grad.float(), atol=1e-4) and torch.allclose(got[1], b2.grad.float(), atol=1e-4)


def test_biased_triplet_is_float32_under_bf16_autocast():
    b1, b2 = (v.bfloat16() for v in pair(b=16, d=8, seed=21))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = biased_triplet_loss(b1, b2, 0.1)
    assert low.dtype == torch.float32
    assert torch.allclose(low, biased_triplet_loss(b1.float(), b2.float(), 0.1), atol=1e-5)


@pytest.mark.parametrize("tau_plus", [1.0, -0.1])
def test_biased_triplet_refuses_a_bad_tau_plus(tau_plus):
    with pytest.raises(ValueError, match="tau_plus"):
        biased_triplet_loss(*pair(), tau_plus)


def test_biased_triplet_refuses_bad_shapes_naming_b1_b2():
    with pytest.raises(ValueError, match="b1 and b2 must have the same shape"):
        biased_triplet_loss(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="b1 must have shape"):
        biased_triplet_loss(torch.randn(4), torch.randn(4))
    with pytest.raises(ValueError, match="at least 2"):
        biased_triplet_loss(torch.randn(1, 8), torch.randn(1, 8))


def weights_loop(d1, d2, b1, b2, t):
    b = d1.shape[0]
    sd, sb = (torch.exp(unit(u1, u2) @ unit(u1, u2).T / t) for u1, u2 in ((d1, d2), (b1, b2)))
    w = torch.ones(2 * b, 2 * b, dtype=torch.float64)
    for i in range(2 * b):
        negs = negatives_of(i, b)
        nd, nb = sd[i, negs].pow(2).sum().sqrt(), sb[i, negs].pow(2).sum().sqrt()
        for k in negs:
            w[i, k] = 1 + (sd[i, k] / nd) / (sb[i, k] / nb + sd[i, k] / nd)
    return w


@pytest.mark.parametrize("t", [0.5, 0.2, 1.0])
def test_relative_difficulty_weights_match_the_loop(t):
    d1, d2 = pair(seed=7)
    b1, b2 = pair(d=5, seed=8)  # the biased encoder may project to another width
    assert torch.allclose(relative_difficulty_weights(d1, d2, b1, b2, t).double(), weights_loop(d1, d2, b1, b2, t),
                          atol=1e-5)


def test_relative_difficulty_weights_are_detached_and_in_1_2_onnegatives_of():
    d1, d2 = pair(seed=9, grad=True)
    b1, b2 = pair(seed=10, grad=True)
    w = relative_difficulty_weights(d1, d2, b1, b2, 0.1)
    assert not w.requires_grad and w.dtype == torch.float32
    from cl_course.losses.similarity import negative_mask
    neg = negative_mask(6, w.device)
    assert ((w[neg] >= 1) & (w[neg] < 2)).all() and (w[~neg] == 1).all()


def test_identical_encoders_give_every_negative_weight_one_and_a_half():
    d1, d2 = pair(seed=11)
    w = relative_difficulty_weights(d1, d2, d1.clone(), d2.clone(), 0.5)
    from cl_course.losses.similarity import negative_mask
    assert torch.allclose(w[negative_mask(6, w.device)], torch.full((12 * 10,), 1.5))


def test_relative_difficulty_weights_stay_finite_at_small_temperature():
    d1, d2 = pair(b=32, d=16, seed=12)
    b1, b2 = pair(b=32, d=16, seed=13)
    w = relative_difficulty_weights(d1, d2, b1, b2, 0.02)
    assert torch.isfinite(w).all()
    assert torch.allclose(w.double(), weights_loop(d1, d2, b1, b2, 0.02), atol=1e-5)  # exp(50) still fits float64


def test_relative_difficulty_weights_are_float32_under_bf16_autocast():
    d1, d2 = (v.bfloat16() for v in pair(seed=22))
    b1, b2 = (v.bfloat16() for v in pair(seed=23))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = relative_difficulty_weights(d1, d2, b1, b2, 0.5)
    assert low.dtype == torch.float32
    assert torch.allclose(low, relative_difficulty_weights(d1.float(), d2.float(), b1.float(), b2.float(), 0.5),
                          atol=1e-6)


def test_relative_difficulty_weights_refuse_mismatched_batches():
    d1, d2 = pair()
    b1, b2 = pair(b=5)
    with pytest.raises(ValueError, match="same B"):
        relative_difficulty_weights(d1, d2, b1, b2)
    with pytest.raises(ValueError, match="temperature"):
        relative_difficulty_weights(d1, d2, d1, d2, -1.0)


def test_relative_difficulty_weights_refuse_bad_pairs_naming_them():
    d1, d2 = pair()
    with pytest.raises(ValueError, match="d1 and d2 must have the same shape"):
        relative_difficulty_weights(d1, d2[:5], d1, d2)
    with pytest.raises(ValueError, match="b1 and b2 must have the same shape"):
        relative_difficulty_weights(d1, d2, d1, d2[:, :5])
    with pytest.raises(ValueError, match="at least 2"):
        relative_difficulty_weights(d1[:1], d2[:1], d1[:1], d2[:1])


def weighted_dcl_loop(z1, z2, w, t, tau_plus):
    b = z1.shape[0]
    z = unit(z1, z2)
    n = 2 * b - 2
    total = 0
    for i in range(2 * b):
        pos = torch.exp(z[i] @ z[positive_of(i, b)] / t)
        neg = sum(w[i, k].double() * torch.exp(z[i] @ z[k] / t) for k in negatives_of(i, b))
        ng = torch.clamp((neg - tau_plus * n * pos) / (1 - tau_plus), min=n * math.exp(-1 / t))
        total = total - torch.log(pos / (pos + ng))
    return total / (2 * b)


def _weights(b=6, seed=14):
    return 1 + torch.rand(2 * b, 2 * b, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("t, tau_plus", [(0.5, 0.1), (0.2, 0.0), (1.0, 0.3)])
def test_weighted_dcl_matches_the_loop(t, tau_plus):
    z1, z2 = pair(seed=15)
    w = _weights()
    assert torch.allclose(weighted_debiased_nt_xent(z1, z2, w, t, tau_plus).double(),
                          weighted_dcl_loop(z1, z2, w, t, tau_plus), atol=1e-5)


@pytest.mark.parametrize("c", [0.25, 3.0])
def test_uniform_weights_scale_the_negative_sum(c):
    # w = c: every anchor's negative sum becomes c times DCL's; the loss moves with c.
    z1, z2 = pair(seed=24)
    got = weighted_debiased_nt_xent(z1, z2, torch.full((12, 12), c), 0.5, 0.1)
    assert torch.allclose(got.double(), weighted_dcl_loop(z1, z2, torch.full((12, 12), c), 0.5, 0.1), atol=1e-5)
    assert (got > debiased_nt_xent(z1, z2, 0.5, 0.1)) == (c > 1)


def test_an_anchor_with_all_weights_zero_is_clamped_with_finite_gradients():
    z1, z2 = pair(seed=25, grad=True)
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
    z1, z2 = pair(seed=16)
    assert torch.allclose(weighted_debiased_nt_xent(z1, z2, torch.ones(12, 12), 0.5, tau_plus),
                          debiased_nt_xent(z1, z2, 0.5, tau_plus), atol=1e-6)


def test_all_ones_weights_and_tau_plus_0_give_nt_xent():
    z1, z2 = pair(seed=17)
    assert torch.allclose(weighted_debiased_nt_xent(z1, z2, torch.ones(12, 12), 0.5, 0.0), nt_xent(z1, z2, 0.5),
                          atol=1e-6)


def test_weights_on_self_and_positive_entries_are_ignored():
    z1, z2 = pair(seed=18)
    w = _weights()
    w2 = w.clone()
    w2.fill_diagonal_(float("nan"))  # not validated either: these entries are never read
    w2[torch.arange(12), (torch.arange(12) + 6) % 12] = -5.0
    assert torch.equal(weighted_debiased_nt_xent(z1, z2, w, 0.5, 0.1), weighted_debiased_nt_xent(z1, z2, w2, 0.5, 0.1))


def test_weighted_dcl_gradients_match_the_loop_and_skip_the_weights():
    z1, z2 = pair(seed=19, grad=True)
    w = _weights().requires_grad_()
    weighted_debiased_nt_xent(z1, z2, w, 0.5, 0.0).backward()
    assert w.grad is None
    got = z1.grad.clone(), z2.grad.clone()
    z1.grad = z2.grad = None
    weighted_dcl_loop(z1, z2, w.detach(), 0.5, 0.0).backward()
    assert torch.allclose(got[0], z1.grad.float(), atol=1e-5) and torch.allclose(got[1], z2.grad.float(), atol=1e-5)


def test_weighted_dcl_stays_finite_at_small_temperature_and_under_bf16():
    z1, z2 = pair(b=32, d=16, seed=20)
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
        weighted_debiased_nt_xent(*pair(), bad)


def test_weighted_dcl_refuses_a_bad_tau_plus():
    with pytest.raises(ValueError, match="tau_plus"):
        weighted_debiased_nt_xent(*pair(), torch.ones(12, 12), 0.5, 1.0)


def distance_weights_loop(d1, d2, b1, b2):
    """The authors' main.py, W(): squared distances of the normalised projections over each anchor's
    negatives, each row L2-normalised, w = 1 + D~d / (D~b + D~d)."""
    b = d1.shape[0]
    w = torch.ones(2 * b, 2 * b, dtype=torch.float64)
    zd, zb = unit(d1, d2), unit(b1, b2)
    for i in range(2 * b):
        negs = negatives_of(i, b)
        dd = torch.stack([(zd[i] - zd[k]).pow(2).sum() for k in negs])
        db = torch.stack([(zb[i] - zb[k]).pow(2).sum() for k in negs])
        dd, db = dd / dd.pow(2).sum().sqrt(), db / db.pow(2).sum().sqrt()
        for j, k in enumerate(negs):
            w[i, k] = 1 + dd[j] / (db[j] + dd[j])
    return w


@pytest.mark.parametrize("seed", [9, 10])
def test_distance_difficulty_weights_match_the_loop(seed):
    from cl_course.losses import distance_difficulty_weights
    d1, d2 = pair(seed=seed)
    b1, b2 = pair(d=5, seed=seed + 100)
    got = distance_difficulty_weights(d1, d2, b1, b2)
    assert got.dtype == torch.float32 and not got.requires_grad
    assert torch.allclose(got.double(), distance_weights_loop(d1, d2, b1, b2), atol=1e-5)
    eye = torch.eye(12, dtype=torch.bool)
    assert (got[eye] == 1).all() and (got[eye.roll(6, 1)] == 1).all()  # self and positive entries


def test_distance_form_reverses_the_similarity_forms_ordering():
    """A negative close for the biased encoder only (it shares the shortcut) gets the lowest weight in
    the similarity form and the highest in the distance form."""
    from cl_course.losses import distance_difficulty_weights
    gen = torch.Generator().manual_seed(3)
    d1 = d2 = torch.eye(8, 16)  # every negative equally far for the debiased encoder
    b1 = torch.randn(8, 16, generator=gen)
    b1[1] = b1[0] + 0.05 * torch.randn(16, generator=gen)  # image 1 is image 0's near twin for the biased encoder
    b2 = b1 + 0.05 * torch.randn(8, 16, generator=gen)
    sim, dist = relative_difficulty_weights(d1, d2, b1, b2, 0.5), distance_difficulty_weights(d1, d2, b1, b2)
    negs = negatives_of(0, 8)
    assert sim[0, negs].argmin().item() in (negs.index(1), negs.index(9))
    assert dist[0, negs].argmax().item() in (negs.index(1), negs.index(9))


def test_distance_difficulty_weights_refuse_mismatched_batches():
    from cl_course.losses import distance_difficulty_weights
    with pytest.raises(ValueError, match="same B"):
        distance_difficulty_weights(*pair(b=6), *pair(b=5))
