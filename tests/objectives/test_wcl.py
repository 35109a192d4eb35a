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
