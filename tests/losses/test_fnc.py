"""FNC (cl_course.losses.fnc): detection and the loss against slow loops, special cases, gradients and bad arguments."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from cl_course.losses import (
    detect_false_negatives,
    fnc_nt_xent,
    nt_xent,
    oracle_nt_xent,
)

from .reference_loops import randn


def random_mask(gen, batch, density=0.3):
    return torch.rand(batch, batch, generator=gen) < density


def detect_loop(support, candidates, top_k=None, threshold=None, aggregate="max"):
    """score[a, b] = agg_s cos(support[a, s], candidates[b]); b != a is flagged when it is in the
    top-k of row a (among b != a) and/or its score is above the threshold (both when both given)."""
    batch, views, _ = support.shape
    out = torch.zeros(batch, batch, dtype=torch.bool)
    for a in range(batch):
        scores = {}
        for b in range(batch):
            if b == a:
                continue
            cos = [F.cosine_similarity(support[a, s].double(), candidates[b].double(), dim=0).item()
                   for s in range(views)]
            scores[b] = max(cos) if aggregate == "max" else sum(cos) / views
        best = sorted(scores, key=scores.get, reverse=True)
        for b, score in scores.items():
            flag = True
            if top_k is not None:
                flag = flag and b in best[:top_k]
            if threshold is not None:
                flag = flag and score > threshold
            out[a, b] = flag
    return out


@pytest.mark.parametrize("aggregate", ["max", "mean"])
@pytest.mark.parametrize("batch, views, dim, top_k, threshold", [
    (2, 1, 3, 1, None), (5, 3, 8, 2, None), (8, 4, 16, None, 0.1), (8, 2, 4, None, -0.2),
    (6, 3, 8, 3, 0.05), (10, 2, 16, 4, 0.2), (12, 5, 6, 11, None)])
def test_detect_false_negatives_matches_reference_loop(batch, views, dim, top_k, threshold, aggregate):
    g = torch.Generator().manual_seed(100 + batch * 10 + views)
    support, candidates = randn(g, batch, views, dim), randn(g, batch, dim)
    got = detect_false_negatives(support, candidates, top_k=top_k, threshold=threshold, aggregate=aggregate)
    assert got.dtype == torch.bool and got.shape == (batch, batch)
    assert torch.equal(got, detect_loop(support, candidates, top_k, threshold, aggregate))
    if top_k is not None:
        assert torch.all(got.sum(1) <= top_k)
        if threshold is None:
            assert torch.all(got.sum(1) == top_k)


def test_detect_both_conditions_is_the_intersection_of_each_alone():
    g = torch.Generator().manual_seed(101)
    support, candidates = randn(g, 10, 3, 8), randn(g, 10, 8)
    top = detect_false_negatives(support, candidates, top_k=3)
    above = detect_false_negatives(support, candidates, threshold=0.4)
    both = detect_false_negatives(support, candidates, top_k=3, threshold=0.4)
    assert torch.equal(both, top & above)
    assert both.sum() < top.sum() and both.sum() < above.sum()  # the case is not trivial


@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_detect_never_flags_the_diagonal_even_when_the_candidate_is_its_own_support(aggregate):
    g = torch.Generator().manual_seed(102)
    support = randn(g, 6, 3, 8)
    candidates = support[:, 0].clone()  # score[a, a] is the largest in its row (1 with max)
    eye = torch.eye(6, dtype=torch.bool)
    for kwargs in (dict(top_k=1), dict(top_k=5), dict(threshold=-1.0), dict(threshold=0.0),
                   dict(top_k=2, threshold=-1.0)):
        got = detect_false_negatives(support, candidates, aggregate=aggregate, **kwargs)
        assert not got[eye].any()
        assert torch.equal(got, detect_loop(support, candidates, aggregate=aggregate, **kwargs))
    # top_k = 1 picks the best *other* image, not the image itself.
    assert torch.all(detect_false_negatives(support, candidates, top_k=1, aggregate=aggregate).sum(1) == 1)


def test_max_and_mean_aggregates_differ_on_a_constructed_case():
    # Image 0 has views e1 and e2. Candidate 1 = e1: cos (1, 0), max 1, mean 0.5.
    # Candidate 2 = (0.6, 0.8): cos (0.6, 0.8), max 0.8, mean 0.7. So max prefers 1, mean prefers 2.
    support = torch.tensor([[[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
                            [[0.0, 1.0, 0.2], [0.0, 1.0, -0.1]],
                            [[1.0, 0.1, 0.3], [1.0, 0.1, 0.0]]])
    candidates = torch.tensor([[-1.0, -0.1, 0.5], [1.0, 0.0, 0.0], [0.6, 0.8, 0.0]])
    by_max = detect_false_negatives(support, candidates, top_k=1, aggregate="max")
    by_mean = detect_false_negatives(support, candidates, top_k=1, aggregate="mean")
    assert by_max[0].tolist() == [False, True, False]
    assert by_mean[0].tolist() == [False, False, True]
    assert torch.equal(by_max, detect_loop(support, candidates, top_k=1, aggregate="max"))
    assert torch.equal(by_mean, detect_loop(support, candidates, top_k=1, aggregate="mean"))
    # With a threshold of 0.6: max scores (1, 0.8) are both above, mean scores (0.5, 0.7) only one.
    assert detect_false_negatives(support, candidates, threshold=0.6, aggregate="max")[0].tolist() == [False, True, True]
    assert detect_false_negatives(support, candidates, threshold=0.6, aggregate="mean")[0].tolist() == [False, False, True]


@pytest.mark.parametrize("batch", [2, 3, 7, 12])
def test_top_k_of_b_minus_1_flags_everything_off_the_diagonal(batch):
    g = torch.Generator().manual_seed(103 + batch)
    support, candidates = randn(g, batch, 2, 5), randn(g, batch, 5)
    for aggregate in ("max", "mean"):
        got = detect_false_negatives(support, candidates, top_k=batch - 1, aggregate=aggregate)
        assert torch.equal(got, ~torch.eye(batch, dtype=torch.bool))
    # The weakest threshold (-1) with no top_k also flags every other image.
    got = detect_false_negatives(support, candidates, threshold=-1.0)
    assert torch.equal(got, ~torch.eye(batch, dtype=torch.bool))


@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_planted_same_class_structure_is_detected_perfectly(aggregate):
    # 3 classes x 4 images; every view sits near its class centre, so the 3 other images of the
    # same class are the top-3 of each row and are the only ones above a threshold of 0.5.
    g = torch.Generator().manual_seed(104)
    labels = torch.arange(3).repeat_interleave(4)[torch.randperm(12, generator=g)]
    centres = 3.0 * torch.eye(16)[:3]
    support = centres[labels][:, None, :] + 0.3 * randn(g, 12, 4, 16)
    candidates = centres[labels] + 0.3 * randn(g, 12, 16)
    same = (labels[:, None] == labels[None, :]) & ~torch.eye(12, dtype=torch.bool)
    assert torch.equal(detect_false_negatives(support, candidates, top_k=3, aggregate=aggregate), same)
    assert torch.equal(detect_false_negatives(support, candidates, threshold=0.5, aggregate=aggregate), same)
    assert torch.equal(detect_false_negatives(support, candidates, top_k=5, threshold=0.5, aggregate=aggregate), same)


def test_detect_false_negatives_carries_no_gradient():
    g = torch.Generator().manual_seed(105)
    support = randn(g, 6, 3, 8).requires_grad_()
    candidates = randn(g, 6, 8).requires_grad_()
    got = detect_false_negatives(support, candidates, top_k=2, threshold=0.0)
    assert got.grad_fn is None and not got.requires_grad
    assert got.dtype == torch.bool


@pytest.mark.parametrize("support_shape, candidates_shape, message", [
    ((6, 8), (6, 8), "support"),
    ((6, 2, 3, 8), (6, 8), "support"),
    ((6, 2, 8), (6, 9), "candidates"),
    ((6, 2, 8), (5, 8), "candidates"),
    ((6, 2, 8), (6, 1, 8), "candidates"),
    ((6, 2, 8), (8,), "candidates"),
])
def test_detect_rejects_bad_shapes_naming_the_argument(support_shape, candidates_shape, message):
    with pytest.raises(ValueError, match=message):
        detect_false_negatives(torch.randn(*support_shape), torch.randn(*candidates_shape), top_k=1)


@pytest.mark.parametrize("aggregate", ["max", "mean"])
def test_detect_rejects_a_support_without_views(aggregate):
    # S = 0: there is nothing to aggregate over ("max" would fail inside torch, "mean" gives NaN scores).
    with pytest.raises(ValueError, match="support"):
        detect_false_negatives(torch.randn(6, 0, 8), torch.randn(6, 8), top_k=1, aggregate=aggregate)


def test_detect_rejects_non_tensors_and_a_batch_of_one():
    with pytest.raises(ValueError, match="support"):
        detect_false_negatives([[[1.0, 0.0]]] * 3, torch.randn(3, 2), top_k=1)
    with pytest.raises(ValueError, match="candidates"):
        detect_false_negatives(torch.randn(3, 2, 2), [[1.0, 0.0]] * 3, top_k=1)
    with pytest.raises(ValueError, match="at least 2"):
        detect_false_negatives(torch.randn(1, 2, 4), torch.randn(1, 4), threshold=0.0)


@pytest.mark.parametrize("kwargs, message", [
    (dict(), "top_k, threshold"),
    (dict(top_k=None, threshold=None), "top_k, threshold"),
    (dict(top_k=0), "top_k"), (dict(top_k=-1), "top_k"), (dict(top_k=6), "top_k"), (dict(top_k=7), "top_k"),
    (dict(top_k=2.0), "top_k"), (dict(top_k=1.5), "top_k"), (dict(top_k="2"), "top_k"),
    (dict(top_k=True), "top_k"),  # a bool is not a count of images
    (dict(top_k=2, threshold=1.5), "threshold"),
    (dict(threshold=1.01), "threshold"), (dict(threshold=-1.01), "threshold"), (dict(threshold=float("nan")), "threshold"),
    (dict(top_k=2, aggregate="sum"), "aggregate"), (dict(threshold=0.0, aggregate="MAX"), "aggregate"),
])
def test_detect_rejects_bad_arguments_naming_them(kwargs, message):
    g = torch.Generator().manual_seed(106)
    with pytest.raises(ValueError, match=message):
        detect_false_negatives(randn(g, 6, 2, 8), randn(g, 6, 8), **kwargs)


def test_detect_accepts_the_boundary_arguments():
    g = torch.Generator().manual_seed(107)
    support, candidates = randn(g, 6, 2, 8), randn(g, 6, 8)
    assert detect_false_negatives(support, candidates, top_k=1).sum() == 6
    assert detect_false_negatives(support, candidates, top_k=5).sum() == 30
    assert detect_false_negatives(support, candidates, threshold=1.0).sum() == 0
    assert detect_false_negatives(support, candidates, threshold=-1.0).sum() == 30


def fnc_loop(z1, z2, false_negatives, t, mode, per_anchor=False):
    """From the docstring, in float64 and exp space. Anchor i (image a = i mod B), positive
    p(i) = (i + B) mod 2B, flagged views F(i) = {k != i, p(i): false_negatives[a, k mod B]}.
    elimination: -log(e^{s_ip/t} / sum_{k != i, k not in F(i)} e^{s_ik/t});
    attraction: -(log p_ip + sum_{f in F(i)} log p_if) / (1 + |F(i)|), p_ik = softmax over k != i."""
    z = F.normalize(torch.cat([z1, z2]).double(), dim=1)
    n2 = z.shape[0]
    b = n2 // 2
    losses = []
    for i in range(n2):
        p = (i + b) % n2
        flagged = [k for k in range(n2) if k not in (i, p) and bool(false_negatives[i % b, k % b])]
        e = {k: torch.exp(z[i] @ z[k] / t) for k in range(n2) if k != i}
        if mode == "elimination":
            denom = sum((e[k] for k in e if k not in flagged), torch.zeros((), dtype=torch.float64))
            losses.append(-torch.log(e[p] / denom))
        else:
            denom = sum(e.values(), torch.zeros((), dtype=torch.float64))
            logs = [torch.log(e[k] / denom) for k in [p] + flagged]
            losses.append(-sum(logs) / len(logs))
    losses = torch.stack(losses)
    return losses if per_anchor else losses.mean()


MODES = ["elimination", "attraction"]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("batch, dim, t, density", [
    (2, 3, 0.5, 0.5), (4, 8, 0.5, 0.3), (6, 16, 0.2, 0.4), (8, 4, 1.0, 0.2), (12, 16, 0.5, 0.6), (5, 8, 0.3, 1.0)])
def test_fnc_nt_xent_matches_reference_loop(batch, dim, t, density, mode):
    g = torch.Generator().manual_seed(200 + batch)
    z1, z2 = randn(g, batch, dim), randn(g, batch, dim)
    mask = random_mask(g, batch, density)
    want = fnc_loop(z1, z2, mask, t, mode)
    assert fnc_nt_xent(z1, z2, mask, temperature=t, mode=mode).item() == pytest.approx(want.item(), rel=1e-5)


def test_fnc_default_mode_is_attraction_and_default_temperature_is_half():
    g = torch.Generator().manual_seed(201)
    z1, z2 = randn(g, 6, 8), randn(g, 6, 8)
    mask = random_mask(g, 6, 0.4)
    assert fnc_nt_xent(z1, z2, mask).item() == pytest.approx(fnc_loop(z1, z2, mask, 0.5, "attraction").item(), rel=1e-5)


@pytest.mark.parametrize("mode", MODES)
def test_fnc_with_no_flagged_pair_is_nt_xent(mode):
    g = torch.Generator().manual_seed(202)
    z1, z2 = randn(g, 10, 16), randn(g, 10, 16)
    none = torch.zeros(10, 10, dtype=torch.bool)
    for t in (0.1, 0.5, 1.0):
        torch.testing.assert_close(fnc_nt_xent(z1, z2, none, t, mode), nt_xent(z1, z2, t), atol=1e-6, rtol=1e-6)


@pytest.mark.parametrize("mode", MODES)
def test_fnc_ignores_flags_on_the_diagonal(mode):
    g = torch.Generator().manual_seed(203)
    z1, z2 = randn(g, 8, 8), randn(g, 8, 8)
    eye = torch.eye(8, dtype=torch.bool)
    torch.testing.assert_close(fnc_nt_xent(z1, z2, eye, 0.5, mode), nt_xent(z1, z2, 0.5), atol=1e-6, rtol=1e-6)
    mask = random_mask(g, 8, 0.4)
    torch.testing.assert_close(fnc_nt_xent(z1, z2, mask | eye, 0.5, mode), fnc_nt_xent(z1, z2, mask & ~eye, 0.5, mode))


@pytest.mark.parametrize("mode", MODES)
def test_fnc_asymmetric_mask_acts_on_the_flagging_image_rows_only(mode):
    g = torch.Generator().manual_seed(204)
    batch = 5
    z1, z2 = randn(g, batch, 8), randn(g, batch, 8)
    a_flags_b = torch.zeros(batch, batch, dtype=torch.bool)
    a_flags_b[0, 3] = True  # image 0 flags image 3, image 3 does not flag image 0
    plain = fnc_loop(z1, z2, torch.zeros(batch, batch, dtype=torch.bool), 0.5, mode, per_anchor=True)
    rows = fnc_loop(z1, z2, a_flags_b, 0.5, mode, per_anchor=True)
    changed = (rows - plain).abs() > 1e-9
    assert changed.tolist() == [True, False, False, False, False, True, False, False, False, False]  # views of image 0
    got = fnc_nt_xent(z1, z2, a_flags_b, 0.5, mode)
    assert got.item() == pytest.approx(rows.mean().item(), rel=1e-5)
    # Flagging the other way round changes the rows of image 3 instead, and the loss.
    b_flags_a = a_flags_b.T.contiguous()
    other = fnc_nt_xent(z1, z2, b_flags_a, 0.5, mode)
    assert other.item() == pytest.approx(fnc_loop(z1, z2, b_flags_a, 0.5, mode).item(), rel=1e-5)
    assert abs(other.item() - got.item()) > 1e-4
    # Each row of the mask contributes on its own: the loss is the mean of the per-image-row losses.
    g2 = torch.Generator().manual_seed(205)
    mask = random_mask(g2, batch, 0.5)
    per_row = [fnc_loop(z1, z2, mask * (torch.arange(batch) == a)[:, None], 0.5, mode, per_anchor=True)
               for a in range(batch)]
    from_rows = plain.clone()
    for a in range(batch):
        from_rows[[a, a + batch]] = per_row[a][[a, a + batch]]
    assert fnc_nt_xent(z1, z2, mask, 0.5, mode).item() == pytest.approx(from_rows.mean().item(), rel=1e-5)


def test_fnc_elimination_lowers_the_loss_and_modes_differ_when_pairs_are_flagged():
    g = torch.Generator().manual_seed(206)
    z1, z2 = randn(g, 8, 8), randn(g, 8, 8)
    mask = random_mask(g, 8, 0.3) & ~torch.eye(8, dtype=torch.bool)
    assert mask.any()
    assert fnc_nt_xent(z1, z2, mask, 0.5, "elimination") < nt_xent(z1, z2, 0.5)
    assert abs(fnc_nt_xent(z1, z2, mask, 0.5, "elimination") - fnc_nt_xent(z1, z2, mask, 0.5, "attraction")) > 1e-3


def test_fnc_elimination_with_the_true_same_class_mask_is_the_oracle():
    g = torch.Generator().manual_seed(207)
    z1, z2 = randn(g, 12, 16), randn(g, 12, 16)
    labels = torch.randint(0, 4, (12,), generator=g)
    same = (labels[:, None] == labels[None, :]) & ~torch.eye(12, dtype=torch.bool)
    assert same.any()
    for t in (0.2, 0.5):
        torch.testing.assert_close(fnc_nt_xent(z1, z2, same, t, "elimination"), oracle_nt_xent(z1, z2, labels, t))
        # The diagonal being ignored, the raw label-equality mask gives the same.
        torch.testing.assert_close(fnc_nt_xent(z1, z2, labels[:, None] == labels[None, :], t, "elimination"),
                                   oracle_nt_xent(z1, z2, labels, t))


@pytest.mark.parametrize("mode", MODES)
def test_fnc_gradients_match_the_reference_loop(mode):
    g = torch.Generator().manual_seed(208)
    a, b = randn(g, 6, 8), randn(g, 6, 8)
    mask = random_mask(g, 6, 0.4)
    z1, z2 = a.clone().requires_grad_(), b.clone().requires_grad_()
    fnc_nt_xent(z1, z2, mask, 0.5, mode).backward()
    r1, r2 = a.double().requires_grad_(), b.double().requires_grad_()
    fnc_loop(r1, r2, mask, 0.5, mode).backward()
    torch.testing.assert_close(z1.grad.double(), r1.grad, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(z2.grad.double(), r2.grad, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("mode", MODES)
def test_fnc_finite_at_temperature_002_and_under_bf16_autocast(mode):
    g = torch.Generator().manual_seed(209)
    z1, noise = randn(g, 12, 16), randn(g, 12, 16)
    z2 = z1 + 0.05 * noise  # close views: large logits at small t
    mask = random_mask(g, 12, 0.3)
    z1.requires_grad_()
    loss = fnc_nt_xent(z1, z2, mask, temperature=0.02, mode=mode)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(z1.grad).all()
    assert loss.item() == pytest.approx(fnc_loop(z1.detach(), z2, mask, 0.02, mode).item(), rel=1e-4, abs=1e-6)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = fnc_nt_xent(z1.bfloat16(), z2.bfloat16(), mask, temperature=0.02, mode=mode)
    assert torch.isfinite(low) and low.dtype == torch.float32
    want = fnc_nt_xent(z1.bfloat16().float(), z2.bfloat16().float(), mask, temperature=0.02, mode=mode)
    assert low.item() == pytest.approx(want.item(), rel=1e-4)


@pytest.mark.parametrize("mask", [
    torch.zeros(4, 4), torch.zeros(4, 4, dtype=torch.long), torch.zeros(4, 5, dtype=torch.bool),
    torch.zeros(4, dtype=torch.bool), torch.zeros(2, 4, 4, dtype=torch.bool), [[False] * 4] * 4])
def test_fnc_rejects_a_bad_mask_naming_false_negatives(mask):
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="false_negatives"):
        fnc_nt_xent(z, z, mask)


@pytest.mark.parametrize("kwargs, message", [
    (dict(mode="drop"), "mode"), (dict(mode="Attraction"), "mode"),
    (dict(temperature=0.0), "temperature"), (dict(temperature=-0.5), "temperature"),
    (dict(temperature=float("nan")), "temperature")])
def test_fnc_rejects_bad_arguments_naming_them(kwargs, message):
    g = torch.Generator().manual_seed(210)
    z1, z2 = randn(g, 4, 8), randn(g, 4, 8)
    with pytest.raises(ValueError, match=message):
        fnc_nt_xent(z1, z2, torch.zeros(4, 4, dtype=torch.bool), **kwargs)


def test_fnc_rejects_bad_shapes():
    mask = torch.zeros(4, 4, dtype=torch.bool)
    with pytest.raises(ValueError, match="same shape"):
        fnc_nt_xent(torch.randn(4, 8), torch.randn(5, 8), mask)
    with pytest.raises(ValueError, match="same shape"):
        fnc_nt_xent(torch.randn(4, 8), torch.randn(4, 7), mask)
    with pytest.raises(ValueError, match="z1"):
        fnc_nt_xent(torch.randn(4, 2, 8), torch.randn(4, 2, 8), mask)
    with pytest.raises(ValueError, match="at least 2"):
        fnc_nt_xent(torch.randn(1, 8), torch.randn(1, 8), torch.zeros(1, 1, dtype=torch.bool))
