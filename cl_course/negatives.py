"""Negatives with diminished semantics (Ge et al., NeurIPS 2021): made from each image, they keep
its low-level statistics (colour, local texture) and destroy its shape.

* ``patch``: the image cut into p×p patches, shuffled with an independent permutation per image
  (never the identity);
* ``texture``: the image's most textured p×p window (highest pixel variance) tiled over the
  image, each tile flipped at random. (The paper synthesised textures with a neural texture
  model, far too slow for a course on a CPU; tiling keeps the local texture and colour of one
  region and leaves no global shape.)

All functions work on a batch ``(N, C, H, W)`` of square images, uint8 or float, on any device,
drawing from a ``torch.Generator`` on that device; none loops over the images. A patch size ``p``
may be any divisor of the image size with ``1 <= p < H``: ``p = 1`` shuffles single pixels (only
the colour histogram survives), ``p = H`` would leave the image unchanged and is refused.
"""
from __future__ import annotations

import operator

import torch

NEGATIVE_KINDS = ("patch", "texture")


def check_kind(kind: str) -> str:
    """Raise ``ValueError`` unless ``kind`` is one of :data:`NEGATIVE_KINDS`."""
    if kind not in NEGATIVE_KINDS:
        raise ValueError(f"unknown negative kind {kind!r}: choose one of {NEGATIVE_KINDS}")
    return kind


def _divisors(n: int) -> list[int]:
    """The patch sizes a square ``n``-px image accepts: divisors ``d`` of ``n`` with ``1 <= d < n``."""
    return [d for d in range(1, n) if n % d == 0]


def check_patch_sizes(patch_sizes, image_size: int) -> tuple[int, ...]:
    """Return ``patch_sizes`` as a tuple of ints, or raise ``ValueError`` unless it is a non-empty
    sequence of integers ``p`` with ``1 <= p < image_size`` that divide ``image_size`` (so that the
    image is cut into at least 2×2 patches). The message names the sizes that would work."""
    if isinstance(patch_sizes, (str, bytes)) or not hasattr(patch_sizes, "__iter__"):
        raise ValueError(f"patch sizes must be a list of integers, got {patch_sizes!r}")
    sizes = tuple(patch_sizes)
    if not sizes:
        raise ValueError(f"give at least one patch size (sizes that work for a {image_size}-px image: "
                         f"{_divisors(image_size)})")
    checked = []
    for p in sizes:
        try:
            if isinstance(p, bool):
                raise TypeError
            p_int = operator.index(p)  # ints and integer numpy scalars, not 4.0 or "4"
        except TypeError:
            raise ValueError(f"patch size {p!r} is not an integer: use sizes from "
                             f"{_divisors(image_size)} for a {image_size}-px image") from None
        if not 1 <= p_int < image_size or image_size % p_int:
            raise ValueError(f"patch size {p!r} does not divide the {image_size}-px image into at least 2×2 "
                             f"patches: use sizes from {_divisors(image_size)}")
        checked.append(p_int)
    return tuple(checked)


def _check_batch(x: torch.Tensor) -> tuple[int, int, int, int]:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"expected a batch of images (N, C, H, W), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    n, c, h, w = x.shape
    if h != w:
        raise ValueError(f"expected square images (H == W), got {h}×{w}")
    return n, c, h, w


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """``(N, (H/p)·(W/p), C, p, p)``: the p×p patches of each image, in row-major grid order."""
    n, c, h, w = x.shape
    return x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(n, (h // p) * (w // p), c, p, p)


def unpatchify(patches: torch.Tensor, size: int) -> torch.Tensor:
    """The inverse of :func:`patchify`: ``(N, G·G, C, p, p)`` → ``(N, C, size, size)``."""
    n, gg, c, p, _ = patches.shape
    g = size // p
    return patches.reshape(n, g, g, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(n, c, size, size)


def patch_shuffle(x: torch.Tensor, patch_size: int, gen: torch.Generator) -> torch.Tensor:
    """Each image cut into ``patch_size``-px square patches, put back in a random order drawn
    independently per image: the argsort of uniform draws, a uniformly random permutation of the
    G² patches, except that the identity (probability 1/(G²)!, 1 in 24 for 2×2 patches) is
    replaced by the cyclic shift of the patches by one place, so no negative is its source
    unmoved (that shift is then twice as likely as any other order; no redraw, so no device
    synchronisation). Same shape, dtype and device as ``x``."""
    n, c, h, _ = _check_batch(x)
    (p,) = check_patch_sizes([patch_size], h)
    patches = patchify(x, p)  # (N, G², C, p, p)
    order = torch.rand(n, patches.shape[1], generator=gen, device=x.device).argsort(dim=1)  # a permutation per image
    identity = (order == torch.arange(patches.shape[1], device=x.device)).all(dim=1, keepdim=True)
    order = torch.where(identity, order.roll(1, dims=1), order)
    shuffled = patches.gather(1, order[:, :, None, None, None].expand_as(patches))
    return unpatchify(shuffled, h)


def texture_tiles(x: torch.Tensor, window: int, gen: torch.Generator) -> torch.Tensor:
    """The texture negative (our stand-in for the paper's texture synthesis): for each image, the
    ``window``-px square crop with the highest pixel variance (per channel, summed over channels)
    among the crops on a grid of stride ``max(1, window // 2)`` — the most textured region, which
    for a coloured digit lies on the stroke and carries its colour — tiled over the image, each tile
    flipped horizontally and/or vertically at random (per tile and per image), so that no global
    shape survives and the tiling does not repeat one orientation.

    Every tile holds the crop's pixels, so the output's per-channel mean is the crop's. Ties go to
    the first crop in row-major order; with ``window = 1`` every crop has zero variance, so the
    output is the flat colour of the top-left pixel. Same shape, dtype and device as ``x``.
    """
    n, c, h, _ = _check_batch(x)
    (p,) = check_patch_sizes([window], h)
    stride = max(1, p // 2)
    windows = x.float().unfold(2, p, stride).unfold(3, p, stride)  # (N, C, gh, gw, p, p)
    gw = windows.shape[3]
    variance = windows.flatten(4).var(dim=4, unbiased=False).sum(dim=1).flatten(1)  # (N, gh·gw)
    best = variance.argmax(dim=1)
    rows, cols = (best // gw) * stride, (best % gw) * stride  # top-left corner of the chosen crop
    ar = torch.arange(p, device=x.device)
    yy = (rows[:, None] + ar)[:, None, :, None].expand(n, c, p, x.shape[3])
    xx = (cols[:, None] + ar)[:, None, None, :].expand(n, c, p, p)
    crop = x.gather(2, yy).gather(3, xx)  # (N, C, p, p): the chosen crop's rows, then its columns
    g = h // p
    flips = torch.rand(n, g * g, 2, generator=gen, device=x.device) < 0.5  # (horizontal, vertical) per tile
    tiles = crop[:, None].expand(n, g * g, c, p, p)
    tiles = torch.where(flips[:, :, 0, None, None, None], tiles.flip(-1), tiles)
    tiles = torch.where(flips[:, :, 1, None, None, None], tiles.flip(-2), tiles)
    return unpatchify(tiles, h)


def make_negatives(kind: str, x: torch.Tensor, patch_sizes, gen: torch.Generator) -> torch.Tensor:
    """One non-semantic negative per image of ``x``, of ``kind`` ``"patch"`` (:func:`patch_shuffle`)
    or ``"texture"`` (:func:`texture_tiles`), with one patch size drawn uniformly from
    ``patch_sizes`` for the whole call (drawn anew every step, as in the paper)."""
    check_kind(kind)
    _, _, h, _ = _check_batch(x)
    sizes = check_patch_sizes(patch_sizes, h)
    p = sizes[int(torch.randint(len(sizes), (1,), generator=gen, device=x.device))]
    return patch_shuffle(x, p, gen) if kind == "patch" else texture_tiles(x, p, gen)
