"""Batch diagnostics (cl_course.diagnostics) against brute-force counts."""
from __future__ import annotations

import pytest
import torch

from cl_course.diagnostics import (
    contrast_accuracy,
    pair_similarities,
    same_class_negative_share,
)


def brute_force_same_class_share(labels):
    batch = len(labels)
    n = 2 * batch
    same = total = 0
    for a in range(n):
        for k in range(n):
            if k == a or k == (a + batch) % n:  # itself, its positive
                continue
            total += 1
            same += int(labels[a % batch] == labels[k % batch])
    return same / total


@pytest.mark.parametrize("labels", [
    [0, 1], [0, 0], [0, 0, 0, 1], [2, 0, 2, 1, 2, 0], list(range(7)), [3] * 5,
])
def test_same_class_negative_share_matches_a_brute_force_count(labels):
    labels = torch.tensor(labels)
    assert same_class_negative_share(labels) == pytest.approx(brute_force_same_class_share(labels.tolist()))


def test_same_class_negative_share_matches_brute_force_on_random_batches():
    gen = torch.Generator().manual_seed(0)
    for b, c in [(9, 3), (16, 10), (5, 2)]:
        labels = torch.randint(0, c, (b,), generator=gen)
        assert same_class_negative_share(labels) == pytest.approx(brute_force_same_class_share(labels.tolist()))


@pytest.mark.parametrize("classes", [2, 10])
def test_same_class_negative_share_averages_one_over_c_for_uniform_labels(classes):
    gen = torch.Generator().manual_seed(classes)
    shares = [same_class_negative_share(torch.randint(0, classes, (32,), generator=gen)) for _ in range(2000)]
    assert sum(shares) / len(shares) == pytest.approx(1 / classes, abs=0.005)


def test_same_class_negative_share_rejects_a_single_image():
    with pytest.raises(ValueError, match=r"labels must hold at least 2 images"):
        same_class_negative_share(torch.tensor([3]))


def test_pair_similarities_group_sizes_and_values():
    gen = torch.Generator().manual_seed(1)
    batch = 6
    z1, z2 = torch.randn(batch, 4, generator=gen), torch.randn(batch, 4, generator=gen)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    groups = pair_similarities(z1, z2, labels)
    n = 2 * batch
    assert groups["positive"].shape == (n,)
    assert len(groups["negative, other class"]) + len(groups["negative, same class"]) == n * (n - 2)
    share = brute_force_same_class_share(labels.tolist())
    assert len(groups["negative, same class"]) == round(share * n * (n - 2))
    cos = torch.nn.functional.cosine_similarity
    torch.testing.assert_close(groups["positive"][:batch], cos(z1, z2))
    torch.testing.assert_close(groups["positive"][batch:], cos(z2, z1))
    # Same-class negatives, by hand: view pairs (i, j) of different images of one class.
    z = torch.cat([z1, z2])
    y = torch.cat([labels, labels])
    want = sorted(cos(z[a:a + 1], z[k:k + 1]).item() for a in range(n) for k in range(n)
                  if k != a and k != (a + batch) % n and y[a] == y[k])
    torch.testing.assert_close(groups["negative, same class"].sort().values, torch.tensor(want))


def test_pair_similarities_rejects_labels_of_the_wrong_shape():
    with pytest.raises(ValueError, match=r"labels must have shape \(4,\)"):
        pair_similarities(torch.randn(4, 3), torch.randn(4, 3), torch.zeros(5, dtype=torch.long))


def test_contrast_accuracy_is_one_for_identical_views_of_orthogonal_rows():
    z = torch.eye(5, 8)
    assert contrast_accuracy(z, z.clone()) == 1.0


def test_contrast_accuracy_is_zero_when_views_are_paired_with_the_wrong_image():
    z1 = torch.eye(5, 8)
    assert contrast_accuracy(z1, z1.roll(1, dims=0)) == 0.0


def test_contrast_accuracy_counts_anchors_not_images():
    # Image 0's views agree; images 1 and 2 have their second views swapped, so each of their four
    # anchors finds the other image's view (similarity 1) before its own positive (similarity 0).
    e = torch.eye(4)
    z1 = torch.stack([e[0], e[1], e[2]])
    z2 = torch.stack([e[0], e[2], e[1]])
    assert contrast_accuracy(z1, z2) == pytest.approx(2 / 6)


def test_same_class_negatives_lines_up_with_the_losses_negative_columns():
    from cl_course.diagnostics import same_class_negatives
    from cl_course.losses.debiased import split_logits

    labels = torch.tensor([0, 1, 0, 2])
    mask = same_class_negatives(labels)  # (8, 6)
    assert mask.shape == (8, 6)
    # Build identical embeddings per class: a negative is same-class exactly when its logit is maximal.
    z = torch.eye(3)[labels]
    _, neg = split_logits(z, z, 1.0)
    assert torch.equal(mask, neg > 0.5)
    assert mask.sum().item() == 2 * 2 * 2  # image 0 and 2: each view has 2 same-class negatives


def test_effective_negatives_is_n_for_uniform_weights_and_one_for_a_single_weight():
    from cl_course.diagnostics import effective_negatives

    assert effective_negatives(torch.ones(3, 10)) == pytest.approx(10.0)
    single = torch.zeros(2, 10)
    single[:, 3] = 5.0
    assert effective_negatives(single) == pytest.approx(1.0)


def test_shortcut_pair_masks_partition_the_negatives_by_label_and_colour():
    from cl_course.diagnostics import shortcut_pair_masks
    from cl_course.losses.similarity import negative_mask

    labels, attrs = torch.tensor([0, 0, 1, 1]), torch.tensor([0, 1, 0, 1])
    masks = shortcut_pair_masks(labels, attrs)
    total = sum(m.int() for m in masks.values())
    assert torch.equal(total.bool(), negative_mask(4, labels.device)) and total.max() == 1
    # anchor 0 (label 0, colour 0): image 2 (label 1, colour 0) shares its colour only, in both views
    assert masks["same colour, other class"][0, 2] and masks["same colour, other class"][0, 6]
    assert masks["other colour, same class"][0, 1] and masks["other colour, other class"][0, 3]
    with pytest.raises(ValueError, match="attrs"):
        shortcut_pair_masks(labels, attrs[:3])


def test_detection_counts_sum_hits_false_alarms_and_misses_over_batches():
    from cl_course.diagnostics import DetectionCounts

    same = torch.tensor([[0, 1, 0], [1, 0, 0], [0, 0, 0]], dtype=torch.bool)
    flagged = torch.tensor([[0, 1, 1], [0, 0, 0], [0, 0, 0]], dtype=torch.bool)
    counts = DetectionCounts()
    counts.add(flagged, same)
    counts.add(flagged, same)
    s = counts.summary()
    assert (counts.tp, counts.fp, counts.fn, counts.pairs, counts.same) == (2, 2, 2, 12, 4)
    assert s["detection_precision"] == 0.5 and s["detection_recall"] == 0.5
    assert s["flagged_share"] == pytest.approx(4 / 12) and s["base_rate"] == pytest.approx(4 / 12)


def test_detection_counts_are_nan_where_undefined_and_restart_each_epoch():
    import math

    from cl_course.diagnostics import DetectionCounts

    counts = DetectionCounts()
    assert all(math.isnan(v) for v in counts.summary().values())
    counts.add(torch.zeros(2, 2, dtype=torch.bool), torch.tensor([[0, 1], [1, 0]], dtype=torch.bool))
    first = counts.end_epoch()
    assert math.isnan(first["detection_precision"]) and first["detection_recall"] == 0.0
    assert counts.pairs == 0 and counts.history == [first]


@pytest.mark.parametrize("labels, want", [([0, 1] * 5, 0.5), ([0] * 9 + [1], 0.82), ([3] * 4, 1.0), (list(range(10)), 0.1)])
def test_same_class_probability_is_the_sum_of_squared_class_shares(labels, want):
    from cl_course.diagnostics import same_class_probability

    assert same_class_probability(torch.tensor(labels)) == pytest.approx(want)
