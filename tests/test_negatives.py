"""Non-semantic negatives (cl_course.negatives): patch shuffles and texture tiles."""
import pytest
import torch

from cl_course.negatives import (NEGATIVE_KINDS, check_patch_sizes, make_negatives, patch_shuffle, patchify,
                                 texture_tiles, unpatchify)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _images(n=4, c=3, size=16, seed=0, dtype=torch.float32):
    x = torch.rand(n, c, size, size, generator=_gen(seed))
    return (x * 255).to(torch.uint8) if dtype == torch.uint8 else x


def _sorted_patches(x, p):
    flat = patchify(x, p).flatten(2)  # (N, G², C·p·p)
    return torch.stack([torch.stack(sorted(img, key=lambda v: v.tolist())) for img in flat])


def test_patchify_and_unpatchify_are_inverse_and_row_major():
    x = _images()
    assert torch.equal(unpatchify(patchify(x, 4), 16), x)
    assert torch.equal(patchify(x, 4)[:, 1], x[:, :, 0:4, 4:8])  # second patch: first row, second column


@pytest.mark.parametrize("p", [2, 4, 8])
def test_patch_shuffle_keeps_every_patch_and_moves_them(p):
    x = _images()
    y = patch_shuffle(x, p, _gen())
    assert torch.equal(_sorted_patches(y, p), _sorted_patches(x, p))
    assert not torch.equal(y, x)


def test_patch_shuffle_draws_a_different_permutation_per_image():
    x = _images(n=1).repeat(6, 1, 1, 1)  # six copies of one image
    y = patch_shuffle(x, 4, _gen())
    assert len({tuple(img.flatten().tolist()) for img in y}) > 1


def test_patch_shuffle_is_reproducible_and_keeps_dtype_and_shape():
    x = _images(dtype=torch.uint8)
    a, b = patch_shuffle(x, 4, _gen(3)), patch_shuffle(x, 4, _gen(3))
    assert torch.equal(a, b) and a.dtype == torch.uint8 and a.shape == x.shape
    assert not torch.equal(a, patch_shuffle(x, 4, _gen(4)))


def test_texture_tiles_are_flips_of_the_most_textured_window():
    # a flat background at the texture's mean level: any window straddling the textured square
    # has a lower variance than the square itself
    x = torch.full((1, 3, 16, 16), 0.5)
    x[0, :, 8:12, 4:8] = torch.rand(3, 4, 4, generator=_gen(1))
    y = texture_tiles(x, 4, _gen())
    crop = x[0, :, 8:12, 4:8]
    flips = [crop, crop.flip(-1), crop.flip(-2), crop.flip(-1).flip(-2)]
    for tile in patchify(y, 4)[0]:
        assert any(torch.equal(tile, f) for f in flips)
    assert len({tuple(t.flatten().tolist()) for t in patchify(y, 4)[0]}) > 1  # not one orientation everywhere


def test_texture_tiles_keep_the_colour_of_the_chosen_region():
    x = torch.zeros(2, 3, 16, 16)
    x[:, 0, 2:6, 2:6] = torch.rand(2, 4, 4, generator=_gen(2))  # red texture only
    y = texture_tiles(x, 4, _gen())
    assert (y[:, 0].sum((1, 2)) > 0).all()  # red texture everywhere in the tiling ...
    assert y[:, 1:].abs().sum() == 0         # ... and no other colour


def test_texture_tiles_are_reproducible_and_keep_dtype():
    x = _images(dtype=torch.uint8)
    assert torch.equal(texture_tiles(x, 4, _gen(5)), texture_tiles(x, 4, _gen(5)))
    assert texture_tiles(x, 4, _gen(5)).dtype == torch.uint8


def test_make_negatives_draws_each_patch_size_and_is_reproducible():
    x = _images(n=2)
    g = _gen(6)
    seen = set()
    for _ in range(40):
        y = make_negatives("patch", x, (2, 8), g)
        seen.add(2 if not torch.equal(_sorted_patches(y, 8), _sorted_patches(x, 8)) else 8)
    assert seen == {2, 8}
    assert torch.equal(make_negatives("texture", x, (4, 8), _gen(7)), make_negatives("texture", x, (4, 8), _gen(7)))


@pytest.mark.parametrize("sizes", [(5,), (4, 6), (16,), (32,), (0,)])
def test_a_patch_size_that_does_not_divide_the_image_is_refused_naming_the_sizes_that_do(sizes):
    with pytest.raises(ValueError, match=r"does not divide the 16-px image.*\[1, 2, 4, 8\]"):
        check_patch_sizes(sizes, 16)


@pytest.mark.parametrize("sizes", [(), 4, "4", None])
def test_patch_sizes_must_be_a_non_empty_list(sizes):
    with pytest.raises(ValueError, match="patch size"):
        check_patch_sizes(sizes, 16)


def test_unknown_negative_kind_lists_the_choices():
    with pytest.raises(ValueError, match=r"unknown negative kind 'stripes'.*patch.*texture"):
        make_negatives("stripes", _images(), (4,), _gen())
    assert NEGATIVE_KINDS == ("patch", "texture")


@pytest.mark.parametrize("shape, match", [((2, 3, 16, 8), "square"), ((3, 16, 16), r"\(N, C, H, W\)")])
def test_non_square_or_unbatched_input_is_refused(shape, match):
    with pytest.raises(ValueError, match=match):
        patch_shuffle(torch.rand(*shape), 4, _gen())
    with pytest.raises(ValueError, match=match):
        texture_tiles(torch.rand(*shape), 4, _gen())


def test_patch_shuffle_refuses_a_size_that_does_not_divide():
    with pytest.raises(ValueError, match="does not divide"):
        patch_shuffle(_images(), 5, _gen())
