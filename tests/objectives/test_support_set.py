"""FNC's objective (cl_course.objectives.support_set): flags from the support views, the loss from
them, detection counts per epoch, and its knobs checked when built."""
import pytest
import torch

from cl_course.losses import detect_false_negatives, fnc_nt_xent
from cl_course.objectives import SupportSetObjective

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


def test_the_oracle_flags_exactly_the_same_class_pairs():
    views, images, make = tiny_setup()
    model, labels = make(), labels_of()
    objective = SupportSetObjective(views, temperature=0.5, mode="elimination", oracle=True)
    got = objective(model, images, labels, gen(2))
    z1, z2 = projections_by_hand(model, views, images, seed=2)
    assert torch.allclose(got, fnc_nt_xent(z1, z2, same_class(labels), 0.5, "elimination"), atol=1e-6)
    assert objective.end_epoch() == {"detection_precision": 1.0, "detection_recall": 1.0}


def test_end_epoch_reports_the_epochs_precision_and_recall_and_restarts_the_counts():
    views, images, make = tiny_setup()
    model, labels = make(), labels_of()
    objective = SupportSetObjective(views, temperature=0.5, top_k=1)
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
    (dict(oracle="yes"), "oracle must be True or False"),
    (dict(temperature=0), "temperature must be > 0"),
])
def test_a_bad_knob_stops_the_objective_when_it_is_built(knobs, message):
    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match=message):
        SupportSetObjective(views, **knobs)
