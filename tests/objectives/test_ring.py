"""CNCE's objective (cl_course.objectives.ring): the annealing schedule, the ring at each step, the
loss by hand, and its knobs checked when built."""
import pytest
import torch

from cl_course.losses import ring_nt_xent
from cl_course.objectives import RingObjective, annealed_ring

from .tiny import gen, projections_by_hand, tiny_setup


@pytest.mark.parametrize("progress, want", [(0.0, (0.0, 1.0)), (0.25, (0.025, 0.9)), (0.5, (0.05, 0.8)),
                                            (1.0, (0.1, 0.6)), (3.0, (0.1, 0.6)), (-1.0, (0.0, 1.0))])
def test_annealed_ring_moves_linearly_from_all_negatives_to_the_ring_and_stays(progress, want):
    assert annealed_ring(progress, 0.1, 0.6) == pytest.approx(want)


def test_without_annealing_the_ring_holds_from_the_first_step():
    views, _, _ = tiny_setup()
    objective = RingObjective(views, lower=0.2, upper=0.7, anneal_steps=0)
    assert objective.ring == (0.2, 0.7)
    objective.set_step(0, 100)
    assert objective.ring == (0.2, 0.7)


def test_annealing_follows_the_schedule_step_by_step():
    views, _, _ = tiny_setup()
    objective = RingObjective(views, lower=0.2, upper=0.6, anneal_steps=10)
    assert objective.ring == (0.0, 1.0)
    for step in (0, 5, 10, 50):
        objective.set_step(step, 100)
        assert objective.ring == pytest.approx(annealed_ring(step / 10, 0.2, 0.6))


def test_loss_is_the_ring_loss_at_the_current_ring():
    views, images, make = tiny_setup()
    model = make()
    objective = RingObjective(views, temperature=0.5, lower=0.1, upper=0.5, anneal_steps=4)
    objective.set_step(2, 10)
    got = objective(model, images, None, gen(3))
    want = ring_nt_xent(*projections_by_hand(model, views, images, seed=3), 0.5, 0.05, 0.75)
    assert torch.allclose(got, want, atol=1e-6)


@pytest.mark.parametrize("knobs, message", [
    (dict(lower=0.6, upper=0.2), "0 <= lower < upper <= 1"),
    (dict(lower=-0.1, upper=0.5), "0 <= lower < upper <= 1"),
    (dict(anneal_steps=-1), "anneal_steps must be an integer >= 0"),
    (dict(anneal_steps=2.5), "anneal_steps must be an integer >= 0"),
])
def test_a_bad_knob_stops_the_objective_when_it_is_built(knobs, message):
    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match=message):
        RingObjective(views, **knobs)


def test_with_a_batch_size_an_empty_ring_is_refused_when_built():
    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match="keeps no negative at batch size B=128"):
        RingObjective(views, lower=0.999, upper=1.0, batch_size=128)
    assert RingObjective(views, lower=0.05, upper=0.6, batch_size=128).knobs()["batch_size"] == 128


def test_a_resampling_ring_objective_passes_resample_to_the_loss():
    views, images, make = tiny_setup()
    model = make()
    objective = RingObjective(views, temperature=0.5, lower=0.1, upper=0.5, resample=True)
    want = ring_nt_xent(*projections_by_hand(model, views, images, seed=1), 0.5, 0.1, 0.5, resample=True)
    assert torch.allclose(objective(model, images, None, gen(1)), want, atol=1e-6)
    with pytest.raises(ValueError, match="resample must be True or False"):
        RingObjective(views, resample="yes")
