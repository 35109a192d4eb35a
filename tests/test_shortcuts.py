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


# --- independent draws: every class keeps bias-conflicting training images in every profile ------------------

def _stand_in(dataset, n_train, n_test, classes=10):
    """A base data set with the real one's split sizes and balanced labels, on 2x2 images (fast)."""
    from cl_course.data import ImageDataset
    channels = 3 if dataset == "cifar10" else 1
    gen = _gen(1)
    return ImageDataset(dataset, torch.randint(256, (n_train, channels, 2, 2), generator=gen, dtype=torch.uint8),
                        torch.arange(n_train) % classes,
                        torch.randint(256, (n_test, channels, 2, 2), generator=gen, dtype=torch.uint8),
                        torch.arange(n_test) % classes, [str(c) for c in range(classes)], (0.5,) * channels,
                        (0.25,) * channels)


@pytest.mark.parametrize("profile", ["ci", "cpu", "gpu"])
@pytest.mark.parametrize("rho", [0.99, 0.995])
def test_every_class_has_bias_conflicting_training_images_in_every_profile(profile, rho):
    """As setup does it: the biased data set, then the profile's class-balanced subset drawn with seed 0.
    (Colours and subset once came from the same seed-0 generator: class 0 kept only bias-aligned images.)"""
    from cl_course.data import load_digits_dataset
    from cl_course.harness.profiles import resolve
    from cl_course.shortcuts import BIASED_DATASETS
    cfg = resolve(profile, {}, "shortcut")
    source, how = BIASED_DATASETS[cfg["dataset"]]
    sizes = {"mnist": (60000, 10000), "cifar10": (50000, 10000)}
    base = load_digits_dataset() if source == "digits" else _stand_in(source, *sizes[source])
    data = make_biased(base, rho, how, cfg["dataset"]).subset(cfg["n_train"], cfg["n_test"], seed=0)
    conflicting = ~is_aligned(data.y_train, data.attr_train)
    per_class = torch.bincount(data.y_train[conflicting], minlength=data.num_classes)
    assert (per_class > 0).all(), f"{profile}: bias-conflicting training images per class {per_class.tolist()}"


def test_the_colours_and_a_subset_come_from_different_streams():
    from cl_course.shortcuts import colour_generator
    assert not torch.equal(torch.randperm(100, generator=colour_generator(0)),
                           torch.randperm(100, generator=_gen(0)))


# --- the unbiased training split -----------------------------------------------------------------------------

def test_balanced_attributes_give_every_class_every_colour_equally_often():
    from cl_course.shortcuts import balanced_attributes
    labels = torch.cat([torch.full((n,), c) for c, n in enumerate([100, 95, 103, 10, 7])])
    attrs = balanced_attributes(labels, 10, _gen())
    for c in range(5):
        counts = torch.bincount(attrs[labels == c], minlength=10)
        assert counts.max() - counts.min() <= 1 and counts.sum() == (labels == c).sum()


def test_unbiased_split_recolours_the_training_images_independently_of_the_label():
    from cl_course.shortcuts import unbiased_training_split
    data = make_biased(load_digits_dataset(), 0.99, "paint", "colored_digits").subset(1000, None, seed=0)
    split = unbiased_training_split(data, seed=0)
    assert split.x.shape == data.x_train.shape and split.x.dtype == torch.uint8
    assert torch.equal(split.y, data.y_train) and split.attrs.shape == data.y_train.shape
    # colours independent of the labels: each class carries each colour a tenth of the time (within one image)
    for c in range(10):
        counts = torch.bincount(split.attrs[split.y == c], minlength=10)
        assert counts.max() - counts.min() <= 1
    assert is_aligned(split.y, split.attrs).float().mean().item() < 0.15
    # the images are the training images in their new colours (same strokes, painted anew)
    assert torch.equal(split.x, apply_colour(data.x_train_source, split.attrs, "paint"))
    kept = split.attrs == data.attr_train
    assert torch.equal(split.x[kept], data.x_train[kept]) and not torch.equal(split.x, data.x_train)
    # seeded: the same seed gives the same colours, another seed others
    assert torch.equal(unbiased_training_split(data, seed=0).attrs, split.attrs)
    assert not torch.equal(unbiased_training_split(data, seed=1).attrs, split.attrs)


def test_unbiased_split_needs_a_biased_data_set():
    from cl_course.shortcuts import unbiased_training_split
    with pytest.raises(ValueError, match="make_biased"):
        unbiased_training_split(load_digits_dataset())
