"""The two-view objectives (cl_course.objectives.two_view): each one's loss equals its loss function
computed by hand on the same views, and each checks its knobs when built."""
import pytest
import torch

from cl_course.losses import debiased_nt_xent, hard_negative_nt_xent, nt_xent, oracle_nt_xent
from cl_course.objectives import (DebiasedObjective, HardNegativeObjective, LossObjective, OracleObjective,
                                  SimCLRObjective)

from .tiny import gen, labels_of, projections_by_hand, tiny_setup


@pytest.mark.parametrize("objective, by_hand", [
    (lambda v: SimCLRObjective(v, temperature=0.3), lambda z1, z2, y: nt_xent(z1, z2, 0.3)),
    (lambda v: DebiasedObjective(v, temperature=0.5, tau_plus=0.2), lambda z1, z2, y: debiased_nt_xent(z1, z2, 0.5, 0.2)),
    (lambda v: HardNegativeObjective(v, temperature=0.5, tau_plus=0.1, beta=2.0),
     lambda z1, z2, y: hard_negative_nt_xent(z1, z2, 0.5, 0.1, 2.0)),
    (lambda v: OracleObjective(v, temperature=0.5), lambda z1, z2, y: oracle_nt_xent(z1, z2, y, 0.5)),
    (lambda v: LossObjective(v, loss_fn=nt_xent, kwargs={"temperature": 0.7}), lambda z1, z2, y: nt_xent(z1, z2, 0.7)),
], ids=["simclr", "dcl", "hcl", "oracle", "custom"])
def test_objective_loss_equals_the_loss_of_its_projections_by_hand(objective, by_hand):
    views, images, make = tiny_setup()
    model, labels = make(), labels_of()
    got = objective(views)(model, images, labels, gen(5))
    want = by_hand(*projections_by_hand(model, views, images, seed=5), labels)
    assert torch.allclose(got, want, atol=1e-6)


def test_a_different_generator_draws_different_views_and_another_loss():
    views, images, make = tiny_setup()
    model, objective = make(), SimCLRObjective(views, temperature=0.5)
    assert not torch.allclose(objective(model, images, None, gen(0)), objective(model, images, None, gen(1)))


@pytest.mark.parametrize("build, message", [
    (lambda v: SimCLRObjective(v, temperature=0), "temperature must be > 0"),
    (lambda v: DebiasedObjective(v, temperature=0.5, tau_plus=1.0), r"tau_plus must be in \[0, 1\)"),
    (lambda v: HardNegativeObjective(v, temperature=0.5, tau_plus=0.1, beta=-1), "beta must be"),
    (lambda v: HardNegativeObjective(v, temperature=-1, beta=1), "temperature must be > 0"),
    (lambda v: LossObjective(v, loss_fn=None), "loss_fn must be a function"),
], ids=["temperature", "tau_plus", "beta", "hcl-temperature", "loss_fn"])
def test_a_bad_knob_stops_the_objective_when_it_is_built(build, message):
    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match=message):
        build(views)


def test_the_oracle_refuses_to_run_without_labels():
    views, images, make = tiny_setup()
    with pytest.raises(ValueError, match="needs the batch's labels"):
        OracleObjective(views)(make(), images, None, gen())


def test_only_the_oracle_declares_that_it_reads_labels():
    views, _, _ = tiny_setup()
    assert OracleObjective(views).needs_labels and not SimCLRObjective(views).needs_labels
