"""Ge et al.'s objective (cl_course.objectives.nonsemantic)."""
import pytest
import torch

from .tiny import tiny_setup


def test_with_copy_gradient_the_negatives_go_through_the_model_with_the_views():
    from cl_course.objectives import NonSemanticObjective

    views, images, make = tiny_setup()
    model = make()
    calls = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    objective = NonSemanticObjective(views, kind="patch", patch_sizes=(4, 8), alpha=2.0, temperature=0.5, num_negatives=2,
                                     copy_gradient=True)
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


def test_loss_equals_the_loss_by_hand_with_the_same_generator():
    from cl_course.losses import nonsemantic_nt_xent
    from cl_course.negatives import make_negatives
    from cl_course.objectives import NonSemanticObjective

    from .tiny import gen

    views, images, make = tiny_setup()
    model = make()
    objective = NonSemanticObjective(views, kind="texture", patch_sizes=(4, 8), alpha=3.0, temperature=0.5,
                                     copy_gradient=True)
    got = objective(model, images, None, gen(6))
    g = gen(6)
    x = views.stacked_pair(images, g)
    negative = make_negatives("texture", x[:8], (4, 8), g)
    z = model(torch.cat([x, negative]))
    want = nonsemantic_nt_xent(z[:8], z[8:16], z[16:], 0.5, 3.0)
    assert torch.allclose(got, want, atol=1e-5)


@pytest.mark.parametrize("knobs, message", [(dict(alpha=0), "alpha must be"), (dict(num_negatives=0), "num_negatives")])
def test_a_bad_alpha_or_count_stops_the_objective_when_it_is_built(knobs, message):
    from cl_course.objectives import NonSemanticObjective

    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match=message):
        NonSemanticObjective(views, kind="patch", patch_sizes=(4,), **knobs)


def test_as_published_the_copies_are_encoded_apart_and_without_gradient():
    """The authors' key encoder encodes the copies under no_grad: a forward pass of their own, no gradient."""
    from cl_course.losses import nonsemantic_nt_xent
    from cl_course.negatives import make_negatives
    from cl_course.objectives import NonSemanticObjective

    from .tiny import gen

    views, images, make = tiny_setup()
    model = make()
    outputs = []
    model.register_forward_hook(lambda m, i, o: outputs.append((i[0].shape[0], o.requires_grad)))
    objective = NonSemanticObjective(views, kind="patch", patch_sizes=(4, 8), alpha=3.0, temperature=0.5)
    assert objective.copy_gradient is False and objective.knobs()["copy_gradient"] is False
    got = objective(model, images, None, gen(6))
    assert outputs == [(16, True), (8, False)]  # the two views with gradient, then the copies without
    g = gen(6)
    x = views.stacked_pair(images, g)
    negative = make_negatives("patch", x[:8], (4, 8), g)
    z1, z2 = model(x).chunk(2)
    with torch.no_grad():
        zn = model(negative)
    assert torch.allclose(got, nonsemantic_nt_xent(z1, z2, zn, 0.5, 3.0), atol=1e-5)


def test_copy_gradient_must_be_a_bool():
    from cl_course.objectives import NonSemanticObjective

    views, _, _ = tiny_setup()
    with pytest.raises(ValueError, match="copy_gradient"):
        NonSemanticObjective(views, kind="patch", patch_sizes=(4,), copy_gradient="no")
