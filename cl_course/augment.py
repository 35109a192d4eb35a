"""SimCLR's random views, drawn independently for every image of a uint8 batch, on any device.

torchvision's batched v2 transforms draw one set of parameters per call (one crop for the whole
batch); contrastive learning needs a fresh draw per image, so the transforms here are written
as batched tensor arithmetic with per-image parameters:

* random resized crop + horizontal flip: one affine sampling grid per image (``grid_sample``);
* colour jitter (brightness, contrast, saturation, hue) with per-image factors, applied with
  probability ``jitter_p`` per image, in the fixed order brightness → contrast → saturation → hue
  (torchvision shuffles the order per call; the fixed order is the only difference);
* random grayscale with probability ``gray_p`` per image;
* normalisation by the data set's per-channel mean and std.

Every draw comes from a ``torch.Generator``, so a view is reproducible from a seed.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

_LUMA = (0.2989, 0.587, 0.114)  # ITU-R 601-2 weights as torchvision's rgb_to_grayscale rounds them


def _uniform(n: int, low: float, high: float, gen: torch.Generator, device) -> torch.Tensor:
    return torch.rand(n, generator=gen, device=device) * (high - low) + low


def _grayscale(x: torch.Tensor) -> torch.Tensor:
    """(N, 3, H, W) in [0, 1] → (N, 1, H, W) luma."""
    r, g, b = x.unbind(dim=1)
    return (_LUMA[0] * r + _LUMA[1] * g + _LUMA[2] * b).unsqueeze(1)


def _rgb_to_hsv(x: torch.Tensor) -> torch.Tensor:
    r, g, b = x.unbind(dim=1)
    maxc, _ = x.max(dim=1)
    minc, _ = x.min(dim=1)
    delta = maxc - minc
    s = delta / maxc.clamp_min(1e-8)
    safe = torch.where(delta > 0, delta, torch.ones_like(delta))
    rc, gc, bc = (maxc - r) / safe, (maxc - g) / safe, (maxc - b) / safe
    h = torch.where(maxc == r, bc - gc, torch.where(maxc == g, 2.0 + rc - bc, 4.0 + gc - rc))
    h = torch.where(delta > 0, (h / 6.0) % 1.0, torch.zeros_like(h))
    return torch.stack([h, s, maxc], dim=1)


_SECTOR_ORDER: dict[str, torch.Tensor] = {}


def _sector_order(device) -> torch.Tensor:
    """Hue sector -> index into ``(v, q, p, t)`` for r, g, b, made once per device: building it
    with ``torch.tensor(..., device="cuda")`` every call is a host-to-device copy, i.e. a host sync
    in every training step."""
    key = str(device)
    if key not in _SECTOR_ORDER:
        _SECTOR_ORDER[key] = torch.tensor(
            [[0, 3, 2], [1, 0, 2], [2, 0, 3], [2, 1, 0], [3, 2, 0], [0, 2, 1]], device=device)
    return _SECTOR_ORDER[key]


def _hsv_to_rgb(x: torch.Tensor) -> torch.Tensor:
    h, s, v = x.unbind(dim=1)
    i = torch.floor(h * 6.0)
    f = h * 6.0 - i
    i = i.to(torch.int64) % 6
    p, q, t = v * (1 - s), v * (1 - s * f), v * (1 - s * (1 - f))
    # Each sector i of the hue circle picks (r, g, b) from (v, q, p, t) in its own order.
    choices = torch.stack([v, q, p, t], dim=1)  # (N, 4, H, W)
    idx = _sector_order(x.device)[i].permute(0, 3, 1, 2)  # (N, 3, H, W)
    return torch.gather(choices, 1, idx)


def crop_flip_grids(
    n: int,
    size: int,
    scale: tuple[float, float],
    ratio: tuple[float, float],
    flip_p: float,
    gen: torch.Generator,
    device,
) -> torch.Tensor:
    """Sampling grids ``(n, size, size, 2)`` for a random resized crop and flip per image.

    The crop covers a fraction ``s ~ U(scale)`` of the image area with aspect ratio
    ``r ~ logU(ratio)``; sides longer than the image are clipped to it (torchvision instead
    retries and falls back to a centre crop). Its centre is uniform over the positions that keep
    the crop inside the image.
    """
    area = _uniform(n, scale[0], scale[1], gen, device)
    log_r = _uniform(n, math.log(ratio[0]), math.log(ratio[1]), gen, device)
    aspect = torch.exp(log_r)
    w = torch.sqrt(area * aspect).clamp(max=1.0)  # fraction of the image width
    h = torch.sqrt(area / aspect).clamp(max=1.0)
    cx = (torch.rand(n, generator=gen, device=device) * 2 - 1) * (1 - w)  # in [-1, 1] coordinates
    cy = (torch.rand(n, generator=gen, device=device) * 2 - 1) * (1 - h)
    flip = torch.where(torch.rand(n, generator=gen, device=device) < flip_p, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=device)
    theta[:, 0, 0] = w * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = h
    theta[:, 1, 2] = cy
    return F.affine_grid(theta, [n, 1, size, size], align_corners=False)


@dataclass
class SimCLRViews:
    """Random SimCLR views of a uint8 image batch, with an independent draw per image.

    Call it on a ``(N, C, H, W)`` uint8 tensor (on the training device) with a generator on the
    same device; it returns ``(N, C, size, size)`` float32 views, normalised by ``mean``/``std``.
    ``views.unnormalize(v)`` maps them back to ``[0, 1]`` for display.

    Defaults follow SimCLR's CIFAR recipe (crop scale (0.08, 1), jitter 0.4/0.4/0.4/0.1 with
    p = 0.8, grayscale p = 0.2, no blur at 32 px).
    """

    size: int = 32
    scale: tuple[float, float] = (0.08, 1.0)
    ratio: tuple[float, float] = (3 / 4, 4 / 3)
    flip_p: float = 0.5
    jitter_p: float = 0.8
    brightness: float = 0.4
    contrast: float = 0.4
    saturation: float = 0.4
    hue: float = 0.1
    gray_p: float = 0.2
    mean: tuple[float, ...] = (0.5, 0.5, 0.5)
    std: tuple[float, ...] = (0.5, 0.5, 0.5)
    _stats: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self):
        if not (0 < self.scale[0] <= self.scale[1] <= 1):
            raise ValueError(f"scale must satisfy 0 < low <= high <= 1, got {self.scale}")
        if not (0 < self.ratio[0] <= self.ratio[1]):
            raise ValueError(f"ratio must satisfy 0 < low <= high, got {self.ratio}")
        for name in ("flip_p", "jitter_p", "gray_p"):
            if not 0 <= getattr(self, name) <= 1:
                raise ValueError(f"{name} must be a probability in [0, 1], got {getattr(self, name)}")
        if not 0 <= self.hue <= 0.5:
            raise ValueError(f"hue must be in [0, 0.5], got {self.hue}")
        if self.size < 1:
            raise ValueError(f"size must be a positive number of pixels, got {self.size}")

    def _channel_stats(self, channels: int, device) -> tuple[torch.Tensor, torch.Tensor]:
        key = (channels, str(device))
        if key not in self._stats:
            if len(self.mean) != channels or len(self.std) != channels:
                raise ValueError(
                    f"mean/std have {len(self.mean)}/{len(self.std)} entries but the images have "
                    f"{channels} channels: pass the data set's per-channel statistics"
                )
            mean = torch.tensor(self.mean, device=device).view(1, -1, 1, 1)
            std = torch.tensor(self.std, device=device).view(1, -1, 1, 1)
            self._stats[key] = (mean, std)
        return self._stats[key]

    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """``[0, 1]`` float images → normalised network input."""
        mean, std = self._channel_stats(x.shape[1], x.device)
        return (x - mean) / std

    def unnormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Normalised views → ``[0, 1]`` images, for display."""
        mean, std = self._channel_stats(x.shape[1], x.device)
        return (x * std + mean).clamp(0, 1)

    def jitter(self, x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Per-image colour jitter and grayscale of ``[0, 1]`` images ``(N, C, H, W)``."""
        n, c = x.shape[:2]
        dev = x.device
        apply = (torch.rand(n, generator=gen, device=dev) < self.jitter_p).float()

        def factor(strength):  # 1 where the jitter is not applied
            f = _uniform(n, max(0.0, 1 - strength), 1 + strength, gen, dev)
            return (1 + apply * (f - 1)).view(n, 1, 1, 1)

        b, k, s = factor(self.brightness), factor(self.contrast), factor(self.saturation)
        hue = (_uniform(n, -self.hue, self.hue, gen, dev) * apply).view(n, 1, 1)
        gray_draw = torch.rand(n, generator=gen, device=dev) < self.gray_p

        x = (x * b).clamp(0, 1)
        lum = _grayscale(x) if c == 3 else x
        x = ((x - lum.mean(dim=(1, 2, 3), keepdim=True)) * k + lum.mean(dim=(1, 2, 3), keepdim=True)).clamp(0, 1)
        if c == 3:
            gray = _grayscale(x)
            x = (gray + (x - gray) * s).clamp(0, 1)
            if self.hue > 0:
                hsv = _rgb_to_hsv(x)
                hsv = torch.stack([(hsv[:, 0] + hue) % 1.0, hsv[:, 1], hsv[:, 2]], dim=1)
                x = _hsv_to_rgb(hsv)
            x = torch.where(gray_draw.view(n, 1, 1, 1), _grayscale(x).expand_as(x), x)
        return x

    def __call__(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"images must be a uint8 tensor (N, C, H, W), got {images.dtype} {tuple(images.shape)}"
            )
        n = images.shape[0]
        x = images.float().div_(255)
        grid = crop_flip_grids(n, self.size, self.scale, self.ratio, self.flip_p, gen, images.device)
        x = F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)
        x = self.jitter(x, gen)
        return self.normalize(x)

    def pair(self, images: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Two independent views of every image: ``(view1, view2)``, drawn in one batched pass."""
        return self.stacked_pair(images, gen).chunk(2)

    def stacked_pair(self, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """Both views of every image as one ``(2B, C, size, size)`` channels-last batch (view 1 of
        all images, then view 2): the network input of a contrastive step."""
        x = self(torch.cat([images, images]), gen)  # each row gets its own draw
        return x.contiguous(memory_format=torch.channels_last)

    def plain(self, images: torch.Tensor) -> torch.Tensor:
        """The un-augmented, normalised images (resized to ``size`` if needed), for evaluation."""
        x = images.float().div(255)
        if x.shape[-1] != self.size or x.shape[-2] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return self.normalize(x)
