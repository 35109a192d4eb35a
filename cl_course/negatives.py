"""Negatives with diminished semantics (Ge et al., NeurIPS 2021): made from each image, they keep
its low-level statistics (colour, local texture) and destroy its shape.

* ``patch``: the image cut into p×p patches, shuffled with an independent permutation per image;
* ``texture``: the image's most textured p×p window (highest pixel variance) tiled over the
  image, each tile flipped at random. (The paper synthesised textures with a neural texture
  model, far too slow for a course on a CPU; tiling keeps the local texture and colour of one
  region and leaves no global shape.)

All functions work on a batch ``(N, C, H, W)`` of square images, uint8 or float, on any device,
drawing from a ``torch.Generator`` on that device.
"""
from __future__ import annotations

import torch

NEGATIVE_KINDS = ("patch", "texture")


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n) if n % d == 0]


def check_patch_sizes(patch_sizes, image_size: int) -> tuple[int, ...]:
    """Return ``patch_sizes`` as a tuple, or raise ``ValueError`` unless it is a non-empty sequence
    of integers ``p`` with ``1 <= p < image_size`` that divide ``image_size``."""
    if isinstance(patch_sizes, (int, str)) or not hasattr(patch_sizes, "__iter__"):
        raise ValueError(f"patch sizes must be a list of integers, got {patch_sizes!r}")
    sizes = tuple(patch_sizes)
    if not sizes:
        raise ValueError("give at least one patch size")
    for p in sizes:
        if not (isinstance(p, int) and not isinstance(p, bool)) or not 1 <= p < image_size or image_size % p:
            raise ValueError(f"patch size {p!r} does not divide the {image_size}-px image into at least 2×2 "
                             f"patches: use sizes from {_divisors(image_size)}")
    return sizes


def _check_batch(x: torch.Tensor, p: int) -> tuple[int, int, int, int]:
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        raise ValueError(f"expected a batch of images (N, C, H, W), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    n, c, h, w = x.shape
    if h != w:
        raise ValueError(f"expected square images, got {h}×{w}")
    check_patch_sizes([p], h)
    return n, c, h, w


def patchify(x: torch.Tensor, p: int) -> torch.Tensor:
    """``(N, (H/p)·(W/p), C, p, p)``: the p×p patches of each image, in row-major grid order."""
    n, c, h, w = x.shape
    return x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(n, (h // p) * (w // p), c, p, p)


def unpatchify(patches: torch.Tensor, size: int) -> torch.Tensor:
    """The inverse of :func:`patchify`: ``(N, G·G, C, p, p)`` → ``(N, C, size, size)``."""
    n, gg, c, p, _ = patches.shape
    g = size // p
    return patches.view(n, g, g, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(n, c, size, size)


def patch_shuffle(x: torch.Tensor, patch_size: int, gen: torch.Generator) -> torch.Tensor:
    """Each image cut into ``patch_size``-px square patches, put back in a random order drawn
    independently per image. Same shape, dtype and device as ``x``."""
    n, c, h, _ = _check_batch(x, patch_size)
    patches = patchify(x, patch_size)  # (N, G², C, p, p)
    order = torch.rand(n, patches.shape[1], generator=gen, device=x.device).argsort(dim=1)  # a permutation per image
    shuffled = patches.gather(1, order[:, :, None, None, None].expand_as(patches))
    return unpatchify(shuffled, h)


def texture_tiles(x: torch.Tensor, window: int, gen: torch.Generator) -> torch.Tensor:
    """Each image's most textured ``window``-px square (the highest pixel variance, summed over
    channels, among windows on a grid of stride ``window // 2``) tiled over the image, each tile
    flipped horizontally and/or vertically at random. Same shape, dtype and device as ``x``."""
    n, c, h, _ = _check_batch(x, window)
    stride = max(1, window // 2)
    windows = x.float().unfold(2, window, stride).unfold(3, window, stride)  # (N, C, gh, gw, p, p)
    gh, gw = windows.shape[2], windows.shape[3]
    variance = windows.flatten(4).var(dim=4, unbiased=False).sum(dim=1).flatten(1)  # (N, gh·gw)
    best = variance.argmax(dim=1)
    rows, cols = (best // gw) * stride, (best % gw) * stride  # top-left corner of the chosen window
    ar = torch.arange(window, device=x.device)
    yy = (rows[:, None] + ar)[:, None, :, None].expand(n, c, window, x.shape[3])
    xx = (cols[:, None] + ar)[:, None, None, :].expand(n, c, window, window)
    crop = x.gather(2, yy).gather(3, xx)  # (N, C, p, p): the chosen window's rows, then its columns
    g = h // window
    flips = torch.rand(n, g * g, 2, generator=gen, device=x.device) < 0.5  # (horizontal, vertical) per tile
    tiles = crop[:, None].expand(n, g * g, c, window, window)
    tiles = torch.where(flips[:, :, 0, None, None, None], tiles.flip(-1), tiles)
    tiles = torch.where(flips[:, :, 1, None, None, None], tiles.flip(-2), tiles)
    return unpatchify(tiles.contiguous(), h)


def make_negatives(kind: str, x: torch.Tensor, patch_sizes, gen: torch.Generator) -> torch.Tensor:
    """One non-semantic negative per image of ``x``, of ``kind`` ``"patch"`` or ``"texture"``, with a
    patch size drawn from ``patch_sizes`` for this call (drawn anew every step, as in the paper)."""
    if kind not in NEGATIVE_KINDS:
        raise ValueError(f"unknown negative kind {kind!r}: choose one of {NEGATIVE_KINDS}")
    sizes = check_patch_sizes(patch_sizes, x.shape[-1])
    p = sizes[int(torch.randint(len(sizes), (1,), generator=gen, device=x.device))]
    return patch_shuffle(x, p, gen) if kind == "patch" else texture_tiles(x, p, gen)
