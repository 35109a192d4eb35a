"""Ge et al.'s objective (cl_course.objectives.nonsemantic)."""
import pytest
import torch

from .tiny import tiny_setup


def test_nonsemantic_objective_sends_the_negatives_through_the_model_with_gradient():
    from cl_course.objectives import NonSemanticObjective

    views, images, make = tiny_setup()
    model = make()
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    objective = NonSemanticObjective(views, kind="patch", patch_sizes=(4, 8), alpha=2.0, temperature=0.5, num_negatives=2)
    loss = objective(model, images, None, torch.Generator().manual_seed(0))
    loss.backward()
    assert calls == [8 * 4]  # two views and two negatives per image, one forward pass
    assert torch.isfinite(loss) and all(p.grad is not None for p in model.parameters() if p.requires_grad)


def test_nonsemantic_objective_refuses_unknown_kinds_and_bad_patch_sizes():
    from cl_course.objectives import NonSemanticObjective

    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match="unknown negative kind 'blur'"):
        NonSemanticObjective(views, kind="blur", patch_sizes=(4,))
    with pytest.raises(ValueError, match="does not divide the 16-px image"):
        NonSemanticObjective(views, kind="patch", patch_sizes=(5,))
