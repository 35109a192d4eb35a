"""Biased data sets (cl_course.shortcuts), group accuracy, and the shortcut profiles."""
import pytest
import torch

from cl_course.harness import profiles
from cl_course.data import load_digits_dataset
from cl_course.evaluate import group_accuracy
from cl_course.shortcuts import (PALETTE, apply_colour, check_rho, is_aligned, load_biased_dataset, make_biased,
                                 shortcut_attributes)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


@pytest.mark.parametrize("rho", [0.9, 0.99, 0.995, 1.0])
def test_shortcut_attributes_align_exactly_rho_of_each_class(rho):
    labels = torch.arange(10).repeat_interleave(200)
    attrs = shortcut_attributes(labels, rho, 10, _gen())
    for c in range(10):
        aligned = (attrs[labels == c] == c).sum().item()
        assert aligned == round(rho * 200)


def test_shortcut_attributes_give_conflicting_samples_other_colours_uniformly():
    labels = torch.zeros(9000, dtype=torch.long)
    attrs = shortcut_attributes(labels, 0.1, 10, _gen())
    conflicting = attrs[attrs != 0]
    counts = torch.bincount(conflicting, minlength=10)
    assert counts[0] == 0
    assert counts[1:].min() > 0.8 * len(conflicting) / 9  # all nine other colours, about evenly


@pytest.mark.parametrize("bad", [0, 0.0, -0.5, 1.01, float("nan"), float("inf"), "high", None, True])
def test_bad_rho_is_refused_with_the_valid_range(bad):
    with pytest.raises(ValueError, match=r"rho=.*\(0, 1\]"):
        check_rho(bad)


def test_painting_colours_the_strokes_and_keeps_the_background_black():
    strokes = torch.zeros(2, 1, 4, 4, dtype=torch.uint8)
    strokes[:, :, 1:3, 1:3] = 255
    out = apply_colour(strokes, torch.tensor([0, 3]), "paint")
    assert out.shape == (2, 3, 4, 4) and out.dtype == torch.uint8
    assert out[:, :, 0, 0].eq(0).all()
    assert out[0, :, 1, 1].tolist() == list(PALETTE[0])
    assert out[1, :, 2, 2].tolist() == list(PALETTE[3])


def test_tint_blends_towards_the_colour():
    grey = torch.full((1, 3, 2, 2), 100, dtype=torch.uint8)
    out = apply_colour(grey, torch.tensor([2]), "tint")[0, :, 0, 0].float()
    expected = 0.65 * 100 + 0.35 * torch.tensor(PALETTE[2], dtype=torch.float32)
    assert torch.allclose(out, expected.round(), atol=1)


def test_unknown_colouring_and_wrong_channels_are_refused():
    with pytest.raises(ValueError, match="unknown colouring"):
        apply_colour(torch.zeros(1, 1, 2, 2, dtype=torch.uint8), torch.tensor([0]), "stripes")
    with pytest.raises(ValueError, match="grayscale"):
        apply_colour(torch.zeros(1, 3, 2, 2, dtype=torch.uint8), torch.tensor([0]), "paint")


def test_colored_digits_are_biased_in_training_and_independent_at_test():
    data = make_biased(load_digits_dataset(), 0.99, "paint", "colored_digits")
    assert data.x_train.shape[1] == 3 and data.attributes is not None
    train_aligned = is_aligned(data.y_train, data.attr_train).float().mean().item()
    test_aligned = is_aligned(data.y_test, data.attr_test).float().mean().item()
    assert train_aligned > 0.98
    assert test_aligned < 0.2  # about 1/10: colour independent of the digit
    # the colour of an image is the recorded one: the brightest pixel's hue matches PALETTE[attr]
    img, attr = data.x_train[0].float(), data.attr_train[0].item()
    peak = img.flatten(1)[:, img.sum(0).flatten().argmax()]
    assert torch.allclose(peak / peak.max(), torch.tensor(PALETTE[attr], dtype=torch.float32) / max(PALETTE[attr]),
                          atol=0.05)


def test_biased_data_is_reproducible_and_survives_subsetting():
    a = make_biased(load_digits_dataset(), 0.9, "paint", "colored_digits", seed=3)
    b = make_biased(load_digits_dataset(), 0.9, "paint", "colored_digits", seed=3)
    assert torch.equal(a.attr_train, b.attr_train) and torch.equal(a.x_test, b.x_test)
    sub = a.subset(500, 100, seed=0)
    assert len(sub.attr_train) == 500 and len(sub.attr_test) == 100
    # each kept image keeps its own attribute: the painted colour still matches
    for i in range(5):
        img = sub.x_train[i].float().flatten(1)
        peak = img[:, img.sum(0).argmax()]
        col = torch.tensor(PALETTE[sub.attr_train[i].item()], dtype=torch.float32)
        assert torch.allclose(peak / peak.max(), col / col.max(), atol=0.05)


def test_load_biased_dataset_refuses_unknown_names_and_bad_rho():
    with pytest.raises(ValueError, match="unknown biased dataset"):
        load_biased_dataset("colored_fashion", 0.99)
    with pytest.raises(ValueError, match="rho"):
        load_biased_dataset("colored_digits", 1.5)


def test_group_accuracy_on_a_hand_made_example():
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    attrs = torch.tensor([0, 0, 1, 1, 1, 0])  # aligned: 0, 1, 3, 4; conflicting: 2, 5
    pred = torch.tensor([0, 0, 1, 1, 1, 1])   # wrong on sample 2 only
    g = group_accuracy(pred, labels, attrs)
    assert g["unbiased_acc"] == pytest.approx(5 / 6)
    assert g["bias_aligned_acc"] == pytest.approx(1.0)
    assert g["bias_conflicting_acc"] == pytest.approx(0.5)
    assert g["worst_group_acc"] == pytest.approx(0.0)  # group (label 0, colour 1) has one sample, wrong
    assert g["group_acc"].shape == (2, 2)


def test_group_accuracy_ignores_empty_groups_and_checks_shapes():
    labels, attrs = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2])  # 6 of 9 groups are empty
    g = group_accuracy(labels.clone(), labels, attrs)
    assert g["worst_group_acc"] == 1.0 and torch.isnan(g["group_acc"]).sum() == 6
    with pytest.raises(ValueError, match="shape"):
        group_accuracy(labels[:2], labels, attrs)


def test_shortcut_profiles_pick_the_biased_data_sets():
    assert profiles.resolve("ci", family="shortcut")["dataset"] == "colored_digits"
    assert profiles.resolve("cpu", family="shortcut")["dataset"] == "colored_mnist"
    assert profiles.resolve("gpu", family="shortcut")["dataset"] == "tinted_cifar10"
    assert "rho" not in profiles.resolve("ci")


@pytest.mark.parametrize("rho", [0, 1.5, -1])
def test_a_bad_rho_in_the_parameters_stops_with_a_config_error(rho):
    with pytest.raises(profiles.ConfigError, match=r"rho=.*-p rho"):
        profiles.resolve("ci", {"rho": rho}, family="shortcut")


def test_a_shortcut_notebook_refuses_an_unbiased_data_set():
    with pytest.raises(profiles.ConfigError, match="biased data set"):
        profiles.resolve("ci", {"dataset": "digits"}, family="shortcut")


def test_the_shortcut_session_keeps_the_colour_in_its_views():
    from cl_course.harness.session import setup

    s = setup("t", profile="ci", family="shortcut", output_dir="unused")
    v = s.views()
    assert v.jitter_p == 0 and v.gray_p == 0 and v.flip_p == 0
    assert s.data.name == "colored_digits" and s.data.attr_test is not None


def test_per_submodule_learning_rates_follow_lr_scales():
    from torch import nn

    from cl_course.train import make_optimizer

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)
            self.lr_scales = {"b": 0.1}

    m = Pair()
    opt = make_optimizer(m, "adamw", 1e-3, 1e-4)
    scales = {id(p): g["lr_scale"] for g in opt.param_groups for p in g["params"]}
    assert all(scales[id(p)] == 1.0 for p in m.a.parameters())
    assert all(scales[id(p)] == 0.1 for p in m.b.parameters())
    assert len(scales) == 4  # every parameter in exactly one group


def _tiny_setup():
    from cl_course.augment import SimCLRViews
    from cl_course.models import build_model

    torch.manual_seed(0)
    views = SimCLRViews(size=16, scale=(0.5, 1.0), jitter_p=0, gray_p=0, flip_p=0)
    images = (torch.rand(8, 3, 16, 16) * 255).to(torch.uint8)
    return views, images, lambda: build_model("small_cnn", 3, 8, 2, 1, 1)


def test_nonsemantic_objective_sends_the_negatives_through_the_model_with_gradient():
    from cl_course.objectives import NonSemanticObjective

    views, images, make = _tiny_setup()
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

    views, _, _ = _tiny_setup()
    with pytest.raises(ValueError, match="unknown negative kind 'blur'"):
        NonSemanticObjective(views, kind="blur", patch_sizes=(4,))
    with pytest.raises(ValueError, match="does not divide the 16-px image"):
        NonSemanticObjective(views, kind="patch", patch_sizes=(5,))


def test_wcl_objective_trains_both_encoders_and_keeps_its_weights_detached():
    from cl_course.models import EncoderPair
    from cl_course.objectives import WCLObjective

    views, images, make = _tiny_setup()
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


def test_group_table_has_a_row_per_variant_and_dashes_without_a_probe():
    from cl_course.harness.results import group_table

    row = {"knn_top1": 0.5, "bias_conflicting_acc": 0.25, "worst_group_acc": 0.0}
    text = group_table({"simclr": {**row, "linear_top1": 0.6, "linear_bias_conflicting_acc": 0.4,
                                   "linear_worst_group_acc": 0.1}, "biased encoder": row})
    lines = text.splitlines()
    assert len(lines) == 3 and "0.250" in lines[1] and "0.400" in lines[1]
    assert lines[2].strip().startswith("biased encoder") and lines[2].rstrip().endswith("-")
