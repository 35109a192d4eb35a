"""FNC's objective (cl_course.objectives.support_set): flags from the support views, the loss from
them, detection counts per epoch, and its knobs checked when built."""
import pytest
import torch

from cl_course.losses import detect_false_negatives, fnc_nt_xent
from cl_course.objectives import ControlledFlagsObjective, SupportSetObjective, label_flags

from .tiny import gen, labels_of, projections_by_hand, tiny_setup


def same_class(labels):
    same = labels[:, None] == labels[None, :]
    return same.fill_diagonal_(False)


@pytest.mark.parametrize("mode", ["elimination", "attraction"])
def test_loss_equals_fnc_with_flags_from_the_support_views_by_hand(mode):
    views, images, make = tiny_setup()
    model, labels = make(), labels_of()
    objective = SupportSetObjective(views, temperature=0.5, support_size=3, top_k=2, threshold=None, mode=mode)
    got = objective(model, images, labels, gen(4))
    g = gen(4)
    z1, z2 = model(views.stacked_pair(images, g)).chunk(2)  # the pair is drawn first ...
    with torch.no_grad():  # ... then the 3 support views of every image, from the same generator
        support = model(views(images.repeat(3, 1, 1, 1), g)).view(3, 8, -1).transpose(0, 1)
    flags = detect_false_negatives(support, z1.detach(), top_k=2)
    assert torch.allclose(got, fnc_nt_xent(z1, z2, flags, 0.5, mode), atol=1e-5)
    assert objective.counts.tp + objective.counts.fp == int(flags.sum())


def test_the_label_oracle_flags_exactly_the_same_class_pairs():
    views, images, make = tiny_setup()
    model, labels = make(), labels_of()
    objective = SupportSetObjective(views, temperature=0.5, mode="elimination", flag_source="labels")
    got = objective(model, images, labels, gen(2))
    z1, z2 = projections_by_hand(model, views, images, seed=2)
    assert torch.allclose(got, fnc_nt_xent(z1, z2, same_class(labels), 0.5, "elimination"), atol=1e-6)
    out = objective.end_epoch()
    assert out["detection_precision"] == 1.0 and out["detection_recall"] == 1.0
    assert out["flags_per_anchor"] == pytest.approx(int(same_class(labels).sum()) / 8)


def test_end_epoch_reports_the_epochs_precision_and_recall_and_restarts_the_counts():
    views, images, make = tiny_setup()
    model, labels = make(), labels_of()
    objective = SupportSetObjective(views, temperature=0.5, top_k=1, threshold=None)
    for step in range(2):
        objective(model, images, labels, gen(step))
    flagged, tp = objective.counts.tp + objective.counts.fp, objective.counts.tp
    out = objective.end_epoch()
    assert flagged == 2 * 8  # top-1: one flag per image and step
    assert out["detection_precision"] == pytest.approx(tp / flagged)
    assert out["detection_recall"] == pytest.approx(tp / (2 * int(same_class(labels).sum())))
    assert objective.counts.tp == objective.counts.fp == 0 and len(objective.counts.history) == 1


@pytest.mark.parametrize("knobs, message", [
    (dict(support_size=0), "support_size must be an integer >= 1"),
    (dict(support_size=1.5), "support_size must be an integer >= 1"),
    (dict(top_k=0), "top_k must be an integer"),
    (dict(top_k=None, threshold=None), "give top_k, threshold or both"),
    (dict(threshold=1.5), r"threshold .* \[-1, 1\]"),
    (dict(aggregate="median"), "unknown aggregate 'median'"),
    (dict(mode="both"), "unknown mode 'both'"),
    (dict(flag_source="oracle"), "unknown flag_source 'oracle'"),
    (dict(temperature=0), "temperature must be > 0"),
])
def test_a_bad_knob_stops_the_objective_when_it_is_built(knobs, message):
    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match=message):
        SupportSetObjective(views, **knobs)


def test_matched_flags_are_as_many_same_class_images_per_anchor_as_the_detector_flagged():
    views, images, make = tiny_setup()
    model, labels = make(), labels_of()
    rule = dict(temperature=0.5, support_size=2, top_k=2, threshold=None)
    detected = SupportSetObjective(views, **rule)
    detected(model, images, labels, gen(3))
    matched = SupportSetObjective(views, flag_source="matched", **rule)
    got = matched(model, images, labels, gen(3))
    same = same_class(labels)
    # the detector flags 2 per anchor (top-2); the matched flags are all same-class, min(2, n_same) per anchor
    want_per_anchor = torch.clamp(same.sum(1), max=2)
    assert matched.counts.fp == 0
    assert matched.counts.tp == int(want_per_anchor.sum())
    assert detected.counts.tp + detected.counts.fp == 2 * 8
    assert torch.isfinite(got)


def test_label_flags_draw_the_asked_numbers_of_true_and_false_flags_per_anchor():
    labels = torch.arange(40) % 4          # 10 per class: 9 same-class and 30 other-class images per anchor
    same = same_class(labels)
    n_true, n_false = torch.full((40,), 3), torch.arange(40) % 5
    flags = label_flags(same, n_true, n_false, torch.Generator().manual_seed(0))
    assert torch.equal((flags & same).sum(1), n_true)
    assert torch.equal((flags & ~same).sum(1), n_false)
    assert not flags.diagonal().any()
    again = label_flags(same, n_true, n_false, torch.Generator().manual_seed(0))
    other = label_flags(same, n_true, n_false, torch.Generator().manual_seed(1))
    assert torch.equal(flags, again) and not torch.equal(flags, other)
    capped = label_flags(same, torch.full((40,), 50), torch.zeros(40, dtype=torch.long), torch.Generator())
    assert torch.equal(capped, same)       # never more than there are


@pytest.mark.parametrize("precision", [0.25, 0.5, 1.0])
def test_controlled_flags_reach_the_asked_precision_and_recall(precision):
    views, images, make = tiny_setup()
    model, labels = make(), labels_of()
    objective = ControlledFlagsObjective(views, temperature=0.5, precision=precision, recall=0.5, mode="elimination")
    objective(model, images, labels, gen(0))
    out = objective.end_epoch()
    same = same_class(labels)
    n_true = (0.5 * same.sum(1)).round()
    assert out["detection_recall"] == pytest.approx(float(n_true.sum() / same.sum()))
    assert out["detection_precision"] == pytest.approx(precision, abs=0.15)


@pytest.mark.parametrize("knobs, message", [
    (dict(precision=0), r"precision must be a number in \(0, 1\]"),
    (dict(recall=1.5), r"recall must be a number in \(0, 1\]"),
    (dict(mode="both"), "unknown mode 'both'"),
])
def test_a_bad_controlled_flag_knob_stops_the_objective_when_built(knobs, message):
    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match=message):
        ControlledFlagsObjective(views, **knobs)
