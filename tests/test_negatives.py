"""Non-semantic negatives (cl_course.negatives): patch shuffles keep every patch and move them, texture
tiles are random flips of the highest-variance crop (checked against a brute-force search), the
patch size is drawn per call, everything is reproducible from a seed, and bad input is refused."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from cl_course.negatives import (
    NEGATIVE_KINDS,
    check_patch_sizes,
    make_negatives,
    patch_shuffle,
    patchify,
    texture_tiles,
    unpatchify,
)

DEVICES = ["cpu", pytest.param("cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no GPU"))]


def _gen(seed=0, device="cpu"):
    return torch.Generator(device=device).manual_seed(seed)


def _images(n=4, c=3, size=16, seed=0, dtype=torch.float32):
    x = torch.rand(n, c, size, size, generator=_gen(seed))
    return (x * 255).to(torch.uint8) if dtype == torch.uint8 else x.to(dtype)


def _sorted_patches(x, p):
    """Each image's p×p patches as a sorted list: equal iff the two images hold the same multiset."""
    return [sorted(tuple(v.tolist()) for v in img) for img in patchify(x, p).flatten(2)]


def _flips(crop):
    return [crop, crop.flip(-1), crop.flip(-2), crop.flip(-1).flip(-2)]


def _best_window(image, window):
    """Brute force: the top-left corner of the highest-variance window on the stride-window//2 grid."""
    stride = max(1, window // 2)
    best, corner = -1.0, None
    for r in range(0, image.shape[-1] - window + 1, stride):
        for c in range(0, image.shape[-1] - window + 1, stride):
            v = image[:, r:r + window, c:c + window].float().flatten(1).var(dim=1, unbiased=False).sum().item()
            if v > best:
                best, corner = v, (r, c)
    return corner


def _assert_tiles_are_flips_of(out_image, crop, window):
    for tile in patchify(out_image[None], window)[0]:
        assert any(torch.equal(tile, f) for f in _flips(crop)), "a tile is not a flip of the chosen crop"


# ---- patchify / unpatchify -----------------------------------------------------------------------

def test_patchify_and_unpatchify_are_inverse_and_row_major():
    x = _images()
    assert torch.equal(unpatchify(patchify(x, 4), 16), x)
    assert torch.equal(patchify(x, 4)[:, 1], x[:, :, 0:4, 4:8])  # second patch: first row, second column
    assert torch.equal(patchify(x, 4)[:, 4], x[:, :, 4:8, 0:4])  # fifth patch: second row, first column


# ---- patch_shuffle -------------------------------------------------------------------------------

@pytest.mark.parametrize("p", [1, 2, 4, 8])
def test_patch_shuffle_keeps_each_images_multiset_of_patches_and_changes_the_image(p):
    x = _images()
    y = patch_shuffle(x, p, _gen())
    assert _sorted_patches(y, p) == _sorted_patches(x, p)
    assert all(not torch.equal(a, b) for a, b in zip(y, x))  # every (random) image moved


def test_patch_shuffle_with_half_size_patches_rearranges_the_four_quadrants():
    x = _images(n=8)
    y = patch_shuffle(x, 8, _gen(1))
    quadrants = lambda img: [img[:, r:r + 8, c:c + 8] for r in (0, 8) for c in (0, 8)]  # noqa: E731
    for xi, yi in zip(x, y):
        sources = [next(k for k, q in enumerate(quadrants(xi)) if torch.equal(q, out)) for out in quadrants(yi)]
        assert sorted(sources) == [0, 1, 2, 3]


def test_patch_shuffle_never_returns_an_image_unmoved_and_reaches_every_other_order():
    # 2×2 patches: a uniform permutation would be the identity for 1 image in 24
    x = _images(n=1).repeat(480, 1, 1, 1)
    y = patch_shuffle(x, 8, _gen(9))
    assert not (y == x).flatten(1).all(dim=1).any()
    assert len({tuple(img.flatten().tolist()) for img in y}) == 23  # all 4! - 1 other orders


def test_patch_shuffle_draws_a_different_permutation_per_image():
    x = _images(n=1).repeat(8, 1, 1, 1)  # eight copies of one image, 16 patches each
    y = patch_shuffle(x, 4, _gen())
    assert len({tuple(img.flatten().tolist()) for img in y}) == 8


def test_patch_shuffle_is_reproducible_from_the_generator_seed():
    x = _images()
    assert torch.equal(patch_shuffle(x, 4, _gen(3)), patch_shuffle(x, 4, _gen(3)))
    assert not torch.equal(patch_shuffle(x, 4, _gen(3)), patch_shuffle(x, 4, _gen(4)))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_negatives_keep_shape_dtype_and_device(dtype, device):
    x = _images(n=3, c=1, dtype=dtype).to(device)
    for out in (patch_shuffle(x, 4, _gen(0, device)), texture_tiles(x, 4, _gen(0, device)),
                make_negatives("patch", x, (2, 8), _gen(0, device))):
        assert out.shape == x.shape and out.dtype == dtype and out.device == x.device


def test_channels_last_input_gives_the_same_negatives():
    # SimCLRViews.stacked_pair hands the objective channels-last views.
    x = _images()
    xc = x.contiguous(memory_format=torch.channels_last)
    assert torch.equal(patch_shuffle(xc, 4, _gen(2)), patch_shuffle(x, 4, _gen(2)))
    assert torch.equal(texture_tiles(xc, 4, _gen(2)), texture_tiles(x, 4, _gen(2)))


# ---- texture_tiles -------------------------------------------------------------------------------

@pytest.mark.parametrize("window", [2, 4, 8])
def test_texture_tiles_are_flips_of_the_highest_variance_window_of_each_image(window):
    x = _images(n=3, seed=window)
    y = texture_tiles(x, window, _gen())
    for xi, yi in zip(x, y):
        r, c = _best_window(xi, window)
        _assert_tiles_are_flips_of(yi, xi[:, r:r + window, c:c + window], window)


def test_texture_tiles_pick_the_planted_textured_square_of_each_image():
    # A flat background at 0.5 and, per image, one 4×4 square of 0s and 1s (half each, per channel):
    # variance 0.25 per channel, the maximum for values in [0, 1], which any window holding a 0.5
    # pixel falls short of. The squares sit at different places, one off the 4-px tile grid.
    corners = [(8, 4), (6, 10), (0, 0)]
    x = torch.full((3, 3, 16, 16), 0.5)
    g = _gen(1)
    for i, (r, c) in enumerate(corners):
        bits = torch.stack([torch.randperm(16, generator=g) < 8 for _ in range(3)]).float().view(3, 4, 4)
        x[i, :, r:r + 4, c:c + 4] = bits
    y = texture_tiles(x, 4, _gen())
    for i, (r, c) in enumerate(corners):
        assert _best_window(x[i], 4) == (r, c)  # the construction does what it says
        _assert_tiles_are_flips_of(y[i], x[i, :, r:r + 4, c:c + 4], 4)


def test_texture_tiles_keep_the_mean_colour_of_the_chosen_crop():
    # A coloured "stroke" with some texture on a black background: the negative keeps the stroke's
    # colour (the shortcut), not the image's average colour.
    colour = torch.tensor([0.9, 0.3, 0.1]).view(3, 1, 1)
    x = torch.zeros(2, 3, 16, 16)
    x[:, :, 4:12, 6:10] = colour * (0.5 + 0.5 * torch.rand(2, 1, 8, 4, generator=_gen(2)))
    y = texture_tiles(x, 4, _gen())
    for xi, yi in zip(x, y):
        r, c = _best_window(xi, 4)
        crop_mean = xi[:, r:r + 4, c:c + 4].mean(dim=(1, 2))
        torch.testing.assert_close(yi.mean(dim=(1, 2)), crop_mean)
        assert (crop_mean - xi.mean(dim=(1, 2))).abs().max() > 0.1  # not merely the image's mean colour
        hue = yi.flatten(1)[:, yi.flatten(1).sum(0) > 0]  # every non-black pixel has the stroke's hue
        torch.testing.assert_close(hue / hue[0], (colour.view(3, 1) / colour[0]).expand_as(hue))


def test_texture_tile_flips_vary_within_an_image_and_between_images():
    x = _images(n=1).repeat(4, 1, 1, 1)
    y = texture_tiles(x, 4, _gen())
    assert len({tuple(t.flatten().tolist()) for t in patchify(y[:1], 4)[0]}) > 1  # not one orientation
    assert len({tuple(img.flatten().tolist()) for img in y}) == 4                 # drawn per image


def test_texture_tiles_are_reproducible_from_the_generator_seed():
    x = _images(dtype=torch.uint8)
    assert torch.equal(texture_tiles(x, 4, _gen(5)), texture_tiles(x, 4, _gen(5)))
    assert not torch.equal(texture_tiles(x, 4, _gen(5)), texture_tiles(x, 4, _gen(6)))


# ---- make_negatives ------------------------------------------------------------------------------

def test_make_negatives_draws_a_patch_size_per_call_uniformly():
    x = _images(n=2)
    g = _gen(6)
    small = 0
    for _ in range(100):
        y = make_negatives("patch", x, (2, 8), g)
        # an 8-px shuffle keeps the multiset of 8-px patches; a 2-px shuffle (64 patches) does not
        small += _sorted_patches(y, 8) != _sorted_patches(x, 8)
    assert 30 <= small <= 70  # 50 +- 4 standard deviations


@pytest.mark.parametrize("kind", NEGATIVE_KINDS)
def test_make_negatives_is_reproducible_from_the_generator_seed(kind):
    x = _images(n=2)
    assert torch.equal(make_negatives(kind, x, (4, 8), _gen(7)), make_negatives(kind, x, (4, 8), _gen(7)))
    assert not torch.equal(make_negatives(kind, x, (4, 8), _gen(7)), make_negatives(kind, x, (4, 8), _gen(8)))


def test_make_negatives_dispatches_on_the_kind():
    x = _images(n=2)
    shuffled = make_negatives("patch", x, (4,), _gen())
    assert _sorted_patches(shuffled, 4) == _sorted_patches(x, 4)
    tiled = make_negatives("texture", x, (4,), _gen())
    for xi, yi in zip(x, tiled):
        r, c = _best_window(xi, 4)
        _assert_tiles_are_flips_of(yi, xi[:, r:r + 4, c:c + 4], 4)


# ---- check_patch_sizes and refusals --------------------------------------------------------------

def test_check_patch_sizes_returns_a_tuple_of_ints():
    assert check_patch_sizes([4, np.int64(8), 1], 16) == (4, 8, 1)
    assert all(type(p) is int for p in check_patch_sizes([np.int64(8)], 16))


@pytest.mark.parametrize("sizes", [(5,), (4, 6), (16,), (32,), (0,), (-4,)])
def test_a_patch_size_that_does_not_divide_the_image_is_refused_naming_the_sizes_that_do(sizes):
    with pytest.raises(ValueError, match=r"does not divide the 16-px image.*\[1, 2, 4, 8\]"):
        check_patch_sizes(sizes, 16)


@pytest.mark.parametrize("sizes", [(4.0,), ("4",), (True,)])
def test_a_patch_size_that_is_not_an_integer_is_refused(sizes):
    with pytest.raises(ValueError, match=r"is not an integer.*\[1, 2, 4, 8\]"):
        check_patch_sizes(sizes, 16)


@pytest.mark.parametrize("sizes", [(), 4, "4", None])
def test_patch_sizes_must_be_a_non_empty_list(sizes):
    with pytest.raises(ValueError, match="patch size"):
        check_patch_sizes(sizes, 16)


def test_unknown_negative_kind_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown negative kind 'stripes'.*\('patch', 'texture'\)"):
        make_negatives("stripes", _images(), (4,), _gen())
    assert NEGATIVE_KINDS == ("patch", "texture")


@pytest.mark.parametrize("fn", [patch_shuffle, texture_tiles])
@pytest.mark.parametrize("size", [5, 16])
def test_patch_shuffle_and_texture_tiles_refuse_a_size_that_does_not_cut_the_image(fn, size):
    with pytest.raises(ValueError, match="does not divide the 16-px image"):
        fn(_images(), size, _gen())


@pytest.mark.parametrize("shape, match", [((2, 3, 16, 8), "square"), ((3, 16, 16), r"\(N, C, H, W\)")])
def test_non_square_or_unbatched_input_is_refused(shape, match):
    x = torch.rand(*shape)
    for make in (lambda: patch_shuffle(x, 4, _gen()), lambda: texture_tiles(x, 4, _gen()),
                 lambda: make_negatives("patch", x, (4,), _gen())):
        with pytest.raises(ValueError, match=match):
            make()
