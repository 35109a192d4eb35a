"""Biased data sets (cl_course.shortcuts): attributes, colouring, reproducibility."""
import pytest
import torch

from cl_course.data import load_digits_dataset
from cl_course.shortcuts import (
    PALETTE,
    apply_colour,
    check_rho,
    is_aligned,
    load_biased_dataset,
    make_biased,
    shortcut_attributes,
)


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
