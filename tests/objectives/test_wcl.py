"""WCL's objective (cl_course.objectives.wcl) and its encoder pair."""
import pytest
import torch

from .tiny import tiny_setup


def test_wcl_objective_trains_both_encoders_and_keeps_its_weights_detached():
    from cl_course.models import EncoderPair
    from cl_course.objectives import WCLObjective

    views, images, make = tiny_setup()
    pair = EncoderPair(make(), make(), biased_lr_scale=0.5)
    objective = WCLObjective(views, temperature=0.5, tau_plus=0.1)
    loss = objective(pair, images, None, torch.Generator().manual_seed(0))
    loss.backward()
    assert torch.isfinite(loss)
    w = objective.last_weights
    assert w.shape == (16, 16) and not w.requires_grad and ((w >= 1) & (w < 2)).all()
    assert all(p.grad is not None for p in pair.biased.parameters() if p.requires_grad)
    assert all(p.grad is not None for p in pair.debiased.parameters() if p.requires_grad)
    assert pair.encoder is pair.debiased.encoder and pair.lr_scales == {"biased": 0.5}
    with pytest.raises(ValueError, match="learning rate"):
        EncoderPair(make(), make(), biased_lr_scale=0)


def test_loss_equals_weighted_dcl_plus_the_triplet_loss_by_hand():
    from cl_course.losses import biased_triplet_loss, relative_difficulty_weights, weighted_debiased_nt_xent
    from cl_course.objectives import WCLObjective

    from .tiny import gen

    views, images, make = tiny_setup()
    objective = WCLObjective(views, temperature=0.5, tau_plus=0.1, biased_lr_scale=10.0)
    pair = objective.build_model(lambda seed: (torch.manual_seed(seed), make())[1], seed=0)
    got = objective(pair, images, None, gen(7))
    x = views.stacked_pair(images, gen(7))
    d1, d2 = pair.debiased(x).chunk(2)
    b1, b2 = pair.biased(x).chunk(2)
    w = relative_difficulty_weights(d1, d2, b1, b2, 0.5)
    want = weighted_debiased_nt_xent(d1, d2, w, 0.5, 0.1) + biased_triplet_loss(b1, b2, 0.1)
    assert torch.allclose(got, want, atol=1e-5)
    assert pair.lr_scales == {"biased": 10.0}


def test_build_model_gives_the_debiased_encoder_the_shared_initialisation():
    from cl_course.objectives import WCLObjective

    views, _, make = tiny_setup()
    made = []
    WCLObjective(views).build_model(lambda seed: made.append(seed) or make(), seed=3)
    assert made == [3, 1003]


@pytest.mark.parametrize("scale", [0, -1.0, float("nan"), True, "10"])
def test_a_bad_biased_learning_rate_stops_the_objective_when_it_is_built(scale):
    from cl_course.objectives import WCLObjective

    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match="biased_lr_scale must be a number > 0"):
        WCLObjective(views, biased_lr_scale=scale)


def test_distance_form_uses_the_distance_weights_and_each_term_is_logged_apart():
    from cl_course.losses import biased_triplet_loss, distance_difficulty_weights, weighted_debiased_nt_xent
    from cl_course.objectives import WCLObjective

    from .tiny import gen

    views, images, make = tiny_setup()
    objective = WCLObjective(views, temperature=0.5, tau_plus=0.1, weight_form="distance")
    pair = objective.build_model(lambda seed: (torch.manual_seed(seed), make())[1], seed=0)
    got = [objective(pair, images, None, gen(s)) for s in (7, 8)]
    terms = []
    for s in (7, 8):
        x = views.stacked_pair(images, gen(s))
        d1, d2 = pair.debiased(x).chunk(2)
        b1, b2 = pair.biased(x).chunk(2)
        w = distance_difficulty_weights(d1, d2, b1, b2)
        terms.append((weighted_debiased_nt_xent(d1, d2, w, 0.5, 0.1).item(), biased_triplet_loss(b1, b2, 0.1).item()))
    assert torch.allclose(got[0], torch.tensor(sum(terms[0])), atol=1e-4)
    logged = objective.end_epoch()
    assert logged["loss_debiased"] == pytest.approx((terms[0][0] + terms[1][0]) / 2, abs=1e-4)
    assert logged["loss_biased"] == pytest.approx((terms[0][1] + terms[1][1]) / 2, abs=1e-4)
    assert objective.end_epoch() == {}  # each epoch starts afresh
    assert objective.knobs()["weight_form"] == "distance"


def test_an_unknown_weight_form_stops_the_objective_when_it_is_built():
    from cl_course.objectives import WCLObjective

    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match="weight_form must be one of"):
        WCLObjective(views, weight_form="cosine")
