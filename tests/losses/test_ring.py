"""The ring (cl_course.losses.ring) against a slow loop: kept ranks, special cases, gradients and bad rings."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cl_course.losses import cosine_logits, negative_mask, nt_xent, ring_nt_xent

from .reference_loops import randn


def ring_loop(z1, z2, t, lower, upper, kept_counts=None, resample=False):
    """Per anchor i, rank its N = 2B - 2 negatives by similarity (rank 0 = most similar; plain
    floats, so the ranks carry no gradient), keep ranks r with lower·N <= r < upper·N, and
    l_i = -log(e^{s_ip/t} / (e^{s_ip/t} + w sum_{k in ring} e^{s_ik/t})), in float64, with
    w = N / |ring| when resampling (N draws from the ring), else 1."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n2 = z.shape[0]
    b = n2 // 2
    losses = []
    for i in range(n2):
        p = (i + b) % n2
        negs = [k for k in range(n2) if k not in (i, p)]
        n = len(negs)
        sim = {k: (z[i] @ z[k]).item() for k in negs}
        ranked = sorted(negs, key=sim.get, reverse=True)
        ring = [k for r, k in enumerate(ranked) if lower * n <= r < upper * n]
        if kept_counts is not None:
            kept_counts.append(ring)
        pos = torch.exp(z[i] @ z[p] / t)
        w = n / len(ring) if resample else 1.0
        denom = pos + w * sum((torch.exp(z[i] @ z[k] / t) for k in ring), torch.zeros((), dtype=torch.float64))
        losses.append(-torch.log(pos / denom))
    return torch.stack(losses).mean()


def integers_in(lo, hi):
    """How many integers r with lo <= r < hi."""
    return max(0, math.ceil(hi) - math.ceil(lo))


@pytest.mark.parametrize("batch, dim, t, lower, upper", [
    (2, 3, 0.5, 0.0, 0.5), (4, 8, 0.5, 0.25, 0.75), (6, 16, 0.2, 0.1, 0.6), (8, 4, 1.0, 0.5, 1.0),
    (12, 16, 0.5, 0.05, 0.95), (5, 8, 0.3, 0.0, 0.2), (7, 8, 0.5, 0.33, 0.34)])
def test_ring_nt_xent_matches_reference_loop(batch, dim, t, lower, upper):
    g = torch.Generator().manual_seed(300 + batch)
    z1, z2 = randn(g, batch, dim), randn(g, batch, dim)
    want = ring_loop(z1, z2, t, lower, upper)
    assert ring_nt_xent(z1, z2, t, lower, upper).item() == pytest.approx(want.item(), rel=1e-5, abs=1e-7)


def test_ring_defaults_and_full_ring_are_nt_xent():
    g = torch.Generator().manual_seed(301)
    z1, z2 = randn(g, 10, 16), randn(g, 10, 16)
    torch.testing.assert_close(ring_nt_xent(z1, z2), nt_xent(z1, z2))
    for t in (0.1, 0.5, 1.0):
        torch.testing.assert_close(ring_nt_xent(z1, z2, t, 0.0, 1.0), nt_xent(z1, z2, t), atol=1e-6, rtol=1e-6)


def test_a_ring_of_the_hardest_negatives_gives_a_larger_loss_than_one_of_the_easiest():
    g = torch.Generator().manual_seed(302)
    z1, z2 = randn(g, 10, 16), randn(g, 10, 16)
    for t in (0.2, 0.5):
        hard = ring_nt_xent(z1, z2, t, 0.0, 0.25)
        easy = ring_nt_xent(z1, z2, t, 0.75, 1.0)
        assert hard > easy
        assert ring_nt_xent(z1, z2, t, 0.0, 0.5) > ring_nt_xent(z1, z2, t, 0.5, 1.0)
        # Any ring drops negatives, so it is below the full loss.
        assert ring_nt_xent(z1, z2, t, 0.0, 0.25) < nt_xent(z1, z2, t)


@pytest.mark.parametrize("batch, lower, upper", [
    (6, 0.0, 1.0), (6, 0.1, 0.6), (6, 0.3, 0.7), (6, 0.51, 0.55), (6, 0.5, 0.55), (7, 0.2, 0.8),
    (8, 0.25, 0.75), (8, 1 / 3, 2 / 3), (12, 0.05, 0.95), (12, 0.0, 0.01), (12, 0.99, 1.0), (3, 0.4, 0.6),
    (64, 0.01, 0.1), (40, 0.0, 0.2), (33, 0.1, 0.25)])  # the last three: the partial top-k path (a band near the top)
def test_ring_keeps_as_many_negatives_as_integers_in_the_band(batch, lower, upper):
    from cl_course.losses.ring import ring_mask
    from cl_course.losses.similarity import cosine_logits
    g = torch.Generator().manual_seed(303 + batch)
    z1, z2 = randn(g, batch, 8), randn(g, batch, 8)
    n = 2 * batch - 2
    expected = integers_in(lower * n, upper * n)
    rings = []
    ring_loop(z1, z2, 0.5, lower, upper, kept_counts=rings)
    assert all(len(r) == expected for r in rings)
    keep = ring_mask(cosine_logits(z1, z2, 0.5), batch, lower, upper)
    assert keep.sum(1).tolist() == [expected] * (2 * batch)
    # The same negatives as the reference, never the anchor itself nor its positive.
    for i in range(2 * batch):
        assert set(keep[i].nonzero().flatten().tolist()) == set(rings[i])
    assert not keep.diagonal().any()
    assert not keep[torch.arange(2 * batch), (torch.arange(2 * batch) + batch) % (2 * batch)].any()
    if expected == 0:  # only the positive would be left (a loss of exactly 0): refused
        with pytest.raises(ValueError, match="keeps no negative"):
            ring_nt_xent(z1, z2, 0.5, lower, upper)


@pytest.mark.parametrize("lower, upper", [(0.2, 0.7), (0.0, 0.5), (0.5, 1.0)])
def test_ring_gradients_match_the_reference_loop(lower, upper):
    g = torch.Generator().manual_seed(304)
    a, b = randn(g, 6, 8), randn(g, 6, 8)
    z1, z2 = a.clone().requires_grad_(), b.clone().requires_grad_()
    ring_nt_xent(z1, z2, 0.5, lower, upper).backward()
    r1, r2 = a.double().requires_grad_(), b.double().requires_grad_()
    ring_loop(r1, r2, 0.5, lower, upper).backward()
    torch.testing.assert_close(z1.grad.double(), r1.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(z2.grad.double(), r2.grad, atol=1e-5, rtol=1e-4)


def test_ring_finite_at_temperature_002_and_under_bf16_autocast():
    g = torch.Generator().manual_seed(305)
    z1, noise = randn(g, 12, 16), randn(g, 12, 16)
    z2 = z1 + 0.05 * noise
    z1.requires_grad_()
    for lower, upper in ((0.0, 1.0), (0.1, 0.5), (0.5, 1.0)):
        loss = ring_nt_xent(z1, z2, 0.02, lower, upper)
        (grad,) = torch.autograd.grad(loss, z1)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()
        assert loss.item() == pytest.approx(ring_loop(z1.detach(), z2, 0.02, lower, upper).item(), rel=1e-4, abs=1e-6)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = ring_nt_xent(z1.bfloat16(), z2.bfloat16(), 0.02, lower, upper)
        assert torch.isfinite(low)


@pytest.mark.parametrize("lower, upper", [
    (-0.1, 0.5), (0.0, 1.1), (0.5, 0.5), (0.6, 0.4), (1.0, 1.0), (float("nan"), 0.5), (0.0, float("nan")),
    (0.0, float("inf")), (float("-inf"), 0.5)])
def test_ring_rejects_a_bad_ring_naming_lower_and_upper(lower, upper):
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="lower") as info:
        ring_nt_xent(z, z, 0.5, lower, upper)
    assert "upper" in str(info.value)


def test_ring_rejects_bad_temperature_and_shapes():
    z = torch.randn(4, 8)
    for t in (0.0, -1.0):
        with pytest.raises(ValueError, match="temperature"):
            ring_nt_xent(z, z, t)
    with pytest.raises(ValueError, match="same shape"):
        ring_nt_xent(torch.randn(4, 8), torch.randn(5, 8))
    with pytest.raises(ValueError, match="at least 2"):
        ring_nt_xent(torch.randn(1, 8), torch.randn(1, 8))


@pytest.mark.parametrize("batch, lower, upper", [(128, 0.999, 1.0), (4, 0.55, 0.6), (2, 0.1, 0.4)])
def test_a_ring_that_keeps_no_negative_is_refused_with_the_sizes(batch, lower, upper):
    gen = torch.Generator().manual_seed(0)
    z1, z2 = randn(gen, batch, 8), randn(gen, batch, 8)
    with pytest.raises(ValueError, match=rf"keeps no negative at batch size B={batch}: of N = 2B - 2 = {2 * batch - 2}"):
        ring_nt_xent(z1, z2, 0.5, lower, upper)


def test_the_narrowest_ring_that_keeps_one_rank_is_accepted():
    gen = torch.Generator().manual_seed(0)
    z1, z2 = randn(gen, 4, 8), randn(gen, 4, 8)  # N = 6: (0.5, 0.51) keeps rank 3 only
    assert torch.isfinite(ring_nt_xent(z1, z2, 0.5, 0.5, 0.51))


@pytest.mark.parametrize("batch, lower, upper", [(6, 0.1, 0.5), (8, 0.01, 0.1), (12, 0.0, 0.2), (9, 0.3, 1.0), (128, 0.01, 0.1)])
def test_resampled_ring_matches_the_loop_with_n_draws_from_the_ring(batch, lower, upper):
    gen = torch.Generator().manual_seed(batch)
    z1, z2 = randn(gen, batch, 8), randn(gen, batch, 8)
    got = ring_nt_xent(z1, z2, 0.5, lower, upper, resample=True)
    assert got.item() == pytest.approx(ring_loop(z1, z2, 0.5, lower, upper, resample=True).item(), rel=1e-5)
    assert got.item() > ring_nt_xent(z1, z2, 0.5, lower, upper).item()  # the ring's mass scaled up to N


def test_resampling_the_full_ring_is_nt_xent():
    gen = torch.Generator().manual_seed(1)
    z1, z2 = randn(gen, 10, 8), randn(gen, 10, 8)
    assert torch.allclose(ring_nt_xent(z1, z2, 0.3, 0.0, 1.0, resample=True), nt_xent(z1, z2, 0.3), atol=1e-6)


def test_resampled_ring_gradients_match_the_loop():
    gen = torch.Generator().manual_seed(2)
    z1, z2 = randn(gen, 8, 6).requires_grad_(), randn(gen, 8, 6).requires_grad_()
    ring_nt_xent(z1, z2, 0.5, 0.05, 0.4, resample=True).backward()
    r1, r2 = z1.detach().clone().requires_grad_(), z2.detach().clone().requires_grad_()
    ring_loop(r1, r2, 0.5, 0.05, 0.4, resample=True).backward()
    torch.testing.assert_close(z1.grad, r1.grad.float(), atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(z2.grad, r2.grad.float(), atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("batch, first, stop", [(4, 0, 3), (8, 1, 3), (64, 2, 13), (64, 6, 76), (33, 0, 64),
                                               # rows cut into pieces: 2 exact, 3 padded, a wide ring's upper end alone
                                               (257, 6, 52), (515, 11, 103), (512, 52, 614), (300, 0, 120)])
def test_the_cpu_partition_and_the_device_topk_give_the_same_ring_ends(batch, first, stop):
    # The CPU path (numpy's introselect) and the path other devices take (torch.topk) must select
    # the same two order statistics among each anchor's negatives; both run here on the CPU.
    from cl_course.losses.ring import _thresholds_by_partition, _thresholds_by_topk
    z1, z2 = torch.randn(batch, 16, generator=torch.Generator().manual_seed(batch)), torch.randn(batch, 16)
    logits = cosine_logits(z1, z2, 0.5)
    hi_p, lo_p = _thresholds_by_partition(logits, batch, first, stop)
    hi_t, lo_t = _thresholds_by_topk(logits, batch, first, stop)
    torch.testing.assert_close(lo_p, lo_t, rtol=0, atol=0)
    if first == 0:
        assert hi_p is None and hi_t is None
    else:
        torch.testing.assert_close(hi_p, hi_t, rtol=0, atol=0)
    # and they are the ranks the definition names: sorted negatives, descending
    neg = logits.masked_fill(~negative_mask(batch, logits.device), float("-inf")).sort(dim=1, descending=True).values
    torch.testing.assert_close(lo_p, neg[:, stop - 1], rtol=0, atol=0)


@pytest.mark.parametrize("batch, lower, upper", [(6, 0.0, 1.0), (6, 0.1, 0.6), (8, 0.0, 0.3), (64, 0.01, 0.1), (33, 0.5, 1.0),
                                                 (300, 0.01, 0.1), (515, 0.05, 0.6)])
def test_the_loss_keeps_exactly_the_negatives_of_ring_mask_ties_included(batch, lower, upper):
    # The loss builds its ring with float arithmetic (it is cheaper); it must select what two
    # comparisons with the ring's ends select, also where values tie at an end of the ring (repeated
    # images) and in bf16; ring_mask is the same selection as bool.
    from cl_course.losses.ring import _ring_outside, kept_ranks, ring_mask, ring_thresholds
    g = torch.Generator().manual_seed(batch)
    z1 = randn(g, batch, 8)
    z1[1::3] = z1[0]                      # repeated images: exact ties among the similarities
    z2 = z1 + 0.1 * randn(g, batch, 8)
    for dtype in (torch.float32, torch.bfloat16):
        logits = cosine_logits(z1, z2, 0.5).to(dtype)
        n = 2 * batch - 2
        first, stop = math.ceil(lower * n), math.ceil(upper * n)
        assert kept_ranks(lower, upper, batch) == (first, stop)
        outside = _ring_outside(logits, batch, first, stop)
        assert outside.dtype == dtype
        want = negative_mask(batch, logits.device)
        if not (first == 0 and stop >= n):
            hi, lo = ring_thresholds(logits, batch, first, stop)
            want = want & (logits >= lo.to(dtype)[:, None])
            if hi is not None:
                want = want & (logits <= hi.to(dtype)[:, None])
        torch.testing.assert_close(outside, want.to(dtype) - 1, rtol=0, atol=0)
        assert torch.equal(ring_mask(logits, batch, lower, upper), want)



def ring_by_sort(z1, z2, t, lower, upper, resample):
    """The ring loss in float64 from a full sort of each anchor's negatives (no partition, no
    thresholds): fast enough for the batch sizes where the CPU selection cuts rows into pieces."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n2 = z.shape[0]
    n = n2 - 2
    sim = z @ z.T
    neg = negative_mask(n2 // 2, z.device)
    ranks = sim.masked_fill(~neg, float("-inf")).argsort(dim=1, descending=True).argsort(dim=1)
    kept = neg & (ranks >= lower * n) & (ranks < upper * n)
    pos = torch.exp(sim[torch.arange(n2), (torch.arange(n2) + n2 // 2) % n2] / t)
    ring = (torch.exp(sim / t) * kept).sum(1)
    w = n / kept.sum(1) if resample else 1.0
    return -torch.log(pos / (pos + w * ring)).mean()


@pytest.mark.parametrize("batch, lower, upper", [(257, 0.01, 0.1), (515, 0.01, 0.1), (512, 0.05, 0.6), (300, 0.0, 0.2)])
@pytest.mark.parametrize("resample", [False, True])
def test_ring_matches_a_full_sort_where_rows_are_cut_into_pieces(batch, lower, upper, resample):
    # Above 256 images a row of the similarities is wider than FAST_PARTITION_WIDTH and the CPU
    # selection works on pieces (padded when the width does not divide); it must keep the ranks a sort keeps.
    gen = torch.Generator().manual_seed(batch)
    z1, z2 = randn(gen, batch, 16), randn(gen, batch, 16)
    got = ring_nt_xent(z1, z2, 0.5, lower, upper, resample=resample)
    assert got.item() == pytest.approx(ring_by_sort(z1, z2, 0.5, lower, upper, resample).item(), rel=1e-5)


def test_order_keys_sort_floats_exactly_and_map_back_bit_for_bit():
    from cl_course.losses.ring import key_values, order_keys
    f = torch.finfo(torch.float32)
    special = torch.tensor([float("-inf"), -f.max, -2.5, -1.0, -f.tiny, -1e-45, 0.0, 1e-45, f.tiny, 1.0,
                            1.0000001, 2.5, f.max, float("inf")])  # ascending; +-1e-45: subnormals
    keys = order_keys(special)
    assert keys.dtype == torch.int32 and bool((keys[1:] > keys[:-1]).all())
    assert order_keys(torch.tensor([-0.0])).item() == order_keys(torch.tensor([0.0])).item() - 1
    x = torch.randn(4096, generator=torch.Generator().manual_seed(0)) * 3
    assert torch.equal(order_keys(x).argsort(), x.argsort())
    for v in (special, x, torch.tensor([-0.0])):
        assert torch.equal(key_values(order_keys(v)).view(torch.int32), v.view(torch.int32))


@pytest.mark.parametrize("dtype", [np.int32, np.int16])
@pytest.mark.parametrize("width, k", [(100, 7), (512, 103), (513, 1), (1024, 103), (1024, 256), (1030, 103),
                                      (1024, 257), (1500, 40), (1024, 1024)])
def test_partition_largest_puts_each_rows_k_largest_last_the_kth_first(dtype, width, k):
    from cl_course.losses.ring import FAST_PARTITION_WIDTH, _partition_largest, _pieces
    rng = np.random.default_rng(width + k)
    x = rng.integers(-50, 50, size=(64, width)).astype(dtype)  # a small range: many ties
    want = np.sort(x, axis=1)[:, width - k:]
    got = _partition_largest(x.copy(), k)
    top = got[:, got.shape[1] - k:]
    assert np.array_equal(np.sort(top, axis=1), want)         # the k largest, as a multiset
    assert np.array_equal(top[:, 0], want[:, 0])              # the k-th largest first
    cut = width > FAST_PARTITION_WIDTH and -(-width // FAST_PARTITION_WIDTH) * k <= FAST_PARTITION_WIDTH
    assert (_pieces(width, k) > 1) == cut
