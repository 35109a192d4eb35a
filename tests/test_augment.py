"""SimCLRViews: shapes, ranges, per-image randomness, reproducibility, the identity and flip
special cases, and each colour operation against torchvision's functional reference."""
from __future__ import annotations

import pytest
import torch
import torchvision.transforms.v2.functional as TF

from cl_course import augment
from cl_course.augment import SimCLRViews


def random_images(n=4, c=3, size=16, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, c, size, size), generator=gen, dtype=torch.uint8)


def no_augmentation(**changes):
    kw = dict(size=16, scale=(1.0, 1.0), ratio=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, gray_p=0.0)
    kw.update(changes)
    return SimCLRViews(**kw)


def test_views_have_requested_size_and_float32_dtype(gen):
    views = SimCLRViews(size=12)
    out = views(random_images(n=5, size=20), gen)
    assert out.shape == (5, 3, 12, 12)
    assert out.dtype == torch.float32


def test_views_unnormalized_lie_in_unit_interval_before_clamping(gen):
    mean, std = (0.4, 0.5, 0.6), (0.2, 0.25, 0.3)
    views = SimCLRViews(size=16, mean=mean, std=std, jitter_p=1.0, brightness=0.8, contrast=0.8,
                        saturation=0.8, hue=0.5)
    out = views(random_images(n=16), gen)
    raw = out * torch.tensor(std).view(1, 3, 1, 1) + torch.tensor(mean).view(1, 3, 1, 1)
    assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5
    torch.testing.assert_close(views.unnormalize(out), raw.clamp(0, 1))


def test_two_identical_images_in_one_batch_get_different_views(gen):
    image = random_images(n=1)
    out = SimCLRViews(size=16)(image.repeat(2, 1, 1, 1), gen)
    assert (out[0] - out[1]).abs().max() > 1e-3


def test_views_of_sixteen_copies_are_pairwise_different(gen):
    image = random_images(n=1, seed=3)
    out = SimCLRViews(size=16)(image.repeat(16, 1, 1, 1), gen)
    flat = out.flatten(1)
    diff = (flat[:, None, :] - flat[None, :, :]).abs().amax(dim=2)  # (16, 16)
    off_diagonal = diff[~torch.eye(16, dtype=torch.bool)]
    assert off_diagonal.min() > 1e-3


def test_crop_alone_differs_per_image(gen):
    # Only the crop is random: the geometry itself must be drawn per image.
    views = no_augmentation(scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3))
    out = views(random_images(n=1, seed=4).repeat(8, 1, 1, 1), gen)
    flat = out.flatten(1)
    diff = (flat[:, None, :] - flat[None, :, :]).abs().amax(dim=2)
    assert diff[~torch.eye(8, dtype=torch.bool)].min() > 1e-3


@pytest.mark.parametrize("probability", ["jitter_p", "gray_p"])
def test_jitter_and_grayscale_are_drawn_per_image_with_their_probability(probability, gen):
    changes = dict(brightness=0.5, contrast=0.0, saturation=0.0, hue=0.0)
    changes[probability] = 0.5
    if probability == "jitter_p":
        changes["gray_p"] = 0.0
    views = no_augmentation(**changes)
    images = random_images(n=1, seed=11).repeat(200, 1, 1, 1)
    changed = (views(images, gen) - views.plain(images)).flatten(1).abs().amax(dim=1) > 1e-3
    assert 0.35 < changed.float().mean().item() < 0.65  # 0.5 +- 4 standard deviations


def test_pair_returns_two_different_views_of_each_image(gen):
    v1, v2 = SimCLRViews(size=16).pair(random_images(n=4), gen)
    assert v1.shape == v2.shape == (4, 3, 16, 16)
    assert ((v1 - v2).flatten(1).abs().amax(dim=1) > 1e-3).all()


def test_views_are_reproducible_from_the_generator_seed():
    images, views = random_images(n=6), SimCLRViews(size=16)
    a = views(images, torch.Generator().manual_seed(42))
    b = views(images, torch.Generator().manual_seed(42))
    c = views(images, torch.Generator().manual_seed(43))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)


def test_grayscale_images_work_with_single_channel_statistics(gen):
    views = SimCLRViews(size=16, mean=(0.3,), std=(0.2,))
    out = views(random_images(n=4, c=1), gen)
    assert out.shape == (4, 1, 16, 16)
    raw = out * 0.2 + 0.3
    assert torch.isfinite(out).all() and raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5


@pytest.mark.parametrize("channels", [1, 3])
def test_view_without_augmentation_equals_plain(channels, gen):
    views = no_augmentation(mean=(0.5,) * channels, std=(0.25,) * channels)
    images = random_images(n=4, c=channels)
    torch.testing.assert_close(views(images, gen), views.plain(images), atol=1e-4, rtol=0)


def test_plain_is_the_normalized_image():
    views = no_augmentation(mean=(0.5, 0.4, 0.3), std=(0.1, 0.2, 0.3))
    images = random_images(n=2)
    want = (images.float() / 255 - torch.tensor([0.5, 0.4, 0.3]).view(1, 3, 1, 1)) / torch.tensor([0.1, 0.2, 0.3]).view(1, 3, 1, 1)
    torch.testing.assert_close(views.plain(images), want)


def test_flip_probability_one_mirrors_the_image(gen):
    views = no_augmentation(flip_p=1.0)
    images = random_images(n=4)
    torch.testing.assert_close(views(images, gen), torch.flip(views.plain(images), dims=[-1]), atol=1e-4, rtol=0)


def test_gray_probability_one_gives_equal_channels_with_luma(gen):
    views = no_augmentation(gray_p=1.0)
    images = random_images(n=3)
    raw = views(images, gen) * 0.5 + 0.5
    want = TF.rgb_to_grayscale(images.float() / 255, num_output_channels=3)
    torch.testing.assert_close(raw, want, atol=1e-4, rtol=0)


def test_hsv_round_trip_is_identity():
    gen = torch.Generator().manual_seed(5)
    x = torch.rand(4, 3, 8, 8, generator=gen)
    x[0, :, 0, 0] = 0.5            # gray pixel (zero saturation)
    x[0, :, 0, 1] = 0.0            # black
    x[0, :, 0, 2] = 1.0            # white
    x[0, :, 0, 3] = torch.tensor([1.0, 0.0, 0.0])  # pure red, green, blue
    x[0, :, 0, 4] = torch.tensor([0.0, 1.0, 0.0])
    x[0, :, 0, 5] = torch.tensor([0.0, 0.0, 1.0])
    torch.testing.assert_close(augment._hsv_to_rgb(augment._rgb_to_hsv(x)), x, atol=1e-5, rtol=0)


def test_hsv_conversion_matches_the_definition_on_primary_colours():
    x = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.5, 0.5, 0.5]]).T.reshape(1, 3, 1, 4)
    hsv = augment._rgb_to_hsv(x)[0, :, 0]  # (3, 4): h, s, v
    torch.testing.assert_close(hsv[0], torch.tensor([0.0, 1 / 3, 2 / 3, 0.0]))
    torch.testing.assert_close(hsv[1], torch.tensor([1.0, 1.0, 1.0, 0.0]))
    torch.testing.assert_close(hsv[2], torch.tensor([1.0, 1.0, 1.0, 0.5]))


@pytest.mark.parametrize("shift", [-0.3, -0.05, 0.1, 0.45])
def test_hue_shift_matches_torchvision_adjust_hue(shift):
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(6))
    hsv = augment._rgb_to_hsv(x)
    hsv = torch.stack([(hsv[:, 0] + shift) % 1.0, hsv[:, 1], hsv[:, 2]], dim=1)
    torch.testing.assert_close(augment._hsv_to_rgb(hsv), TF.adjust_hue(x, shift), atol=1e-2, rtol=0)


@pytest.fixture
def factor_at(monkeypatch):
    """Force every jitter factor to one end of its range, so one colour operation can be compared
    with torchvision's at a known factor."""

    def force(end):
        def fixed(n, low, high, gen, device):
            return torch.full((n,), float(low if end == "low" else high), device=device)

        monkeypatch.setattr(augment, "_uniform", fixed)

    return force


@pytest.mark.parametrize("op, strength, end, reference", [
    ("brightness", 0.4, "low", lambda x: TF.adjust_brightness(x, 0.6)),
    ("brightness", 0.4, "high", lambda x: TF.adjust_brightness(x, 1.4)),
    ("contrast", 0.5, "low", lambda x: TF.adjust_contrast(x, 0.5)),
    ("contrast", 0.5, "high", lambda x: TF.adjust_contrast(x, 1.5)),
    ("saturation", 0.7, "high", lambda x: TF.adjust_saturation(x, 1.7)),
    ("saturation", 1.0, "low", lambda x: TF.adjust_saturation(x, 0.0)),
    ("hue", 0.2, "low", lambda x: TF.adjust_hue(x, -0.2)),
    ("hue", 0.2, "high", lambda x: TF.adjust_hue(x, 0.2)),
])
def test_single_jitter_operation_matches_torchvision(op, strength, end, reference, factor_at, gen):
    factor_at(end)
    kw = dict(brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, jitter_p=1.0, gray_p=0.0)
    kw[op] = strength
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(7))
    got = SimCLRViews(size=8, **kw).jitter(x, gen)
    # hue goes through HSV in float32 on both sides, by different formulas.
    torch.testing.assert_close(got, reference(x), atol=1e-2 if op == "hue" else 1e-3, rtol=0)


def test_zero_saturation_factor_gives_grayscale(factor_at, gen):
    factor_at("low")
    x = torch.rand(4, 3, 8, 8, generator=torch.Generator().manual_seed(8))
    views = SimCLRViews(size=8, brightness=0.0, contrast=0.0, saturation=1.0, hue=0.0, jitter_p=1.0, gray_p=0.0)
    out = views.jitter(x, gen)
    luma = 0.2989 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]  # torchvision's weights
    for c in range(3):
        torch.testing.assert_close(out[:, c], luma, atol=1e-5, rtol=0)


def test_random_hue_jitter_keeps_each_pixels_saturation_and_value(gen):
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(9))
    views = SimCLRViews(size=8, brightness=0.0, contrast=0.0, saturation=0.0, hue=0.5, jitter_p=1.0, gray_p=0.0)
    out = views.jitter(x, gen)
    before, after = augment._rgb_to_hsv(x), augment._rgb_to_hsv(out)
    torch.testing.assert_close(after[:, 1:], before[:, 1:], atol=1e-4, rtol=0)
    assert (out - x).abs().max() > 1e-2  # the hue did move


def test_jitter_probability_zero_leaves_colours_unchanged(gen):
    x = torch.rand(8, 3, 8, 8, generator=torch.Generator().manual_seed(10))
    views = SimCLRViews(size=8, jitter_p=0.0, gray_p=0.0, brightness=0.8, contrast=0.8, saturation=0.8, hue=0.5)
    torch.testing.assert_close(views.jitter(x, gen), x, atol=1e-5, rtol=0)


@pytest.mark.parametrize("dtype", [torch.float32, torch.int64])
def test_non_uint8_images_are_rejected(dtype, gen):
    with pytest.raises(ValueError, match=r"images must be a uint8 tensor"):
        SimCLRViews(size=8)(torch.zeros(2, 3, 8, 8, dtype=dtype), gen)


def test_images_without_batch_dimension_are_rejected(gen):
    with pytest.raises(ValueError, match=r"images must be a uint8 tensor \(N, C, H, W\)"):
        SimCLRViews(size=8)(torch.zeros(3, 8, 8, dtype=torch.uint8), gen)


@pytest.mark.parametrize("scale", [(0.0, 1.0), (0.5, 0.2), (0.5, 1.5)])
def test_bad_scale_is_rejected(scale):
    with pytest.raises(ValueError, match=r"scale must satisfy"):
        SimCLRViews(scale=scale)


def test_bad_ratio_is_rejected():
    with pytest.raises(ValueError, match=r"ratio must satisfy"):
        SimCLRViews(ratio=(2.0, 1.0))


@pytest.mark.parametrize("name", ["flip_p", "jitter_p", "gray_p"])
@pytest.mark.parametrize("value", [-0.1, 1.5])
def test_probabilities_outside_unit_interval_are_rejected(name, value):
    with pytest.raises(ValueError, match=rf"{name} must be a probability in \[0, 1\]"):
        SimCLRViews(**{name: value})


def test_hue_outside_half_is_rejected():
    with pytest.raises(ValueError, match=r"hue must be in \[0, 0.5\]"):
        SimCLRViews(hue=0.6)


def test_mean_std_length_mismatch_is_rejected(gen):
    views = SimCLRViews(size=8, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    with pytest.raises(ValueError, match=r"mean/std have 3/3 entries but the images have 1 channels"):
        views(random_images(n=2, c=1, size=8), gen)
