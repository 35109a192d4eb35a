"""Biased data sets with a known shortcut, derived by code from real ones (notebooks 06 and 07).

Each class ``c`` has a shortcut attribute of its own, colour ``c`` of :data:`PALETTE`. In the
training split a share ``rho`` of every class carries its class's colour (*bias-aligned*) and the
rest a colour drawn uniformly from the nine others (*bias-conflicting*); in the test split the
colour is drawn uniformly for every image, independent of the label, so every (label, colour)
group has test samples. The colour of each sample is recorded (``attr_train``/``attr_test``):
its group is ``(label, colour)``.

* ``colored_mnist`` (``cpu``): MNIST's white strokes painted in the colour, black background
  (as in the debiasing literature: Bahng et al. 2020, Nam et al. 2020).
* ``colored_digits`` (``ci``): the same on scikit-learn's digits (no network, no data copy).
* ``tinted_cifar10`` (``gpu``): each CIFAR-10 image blended with a flat wash of the colour,
  ``x' = (1 - s) x + s c`` with ``s = 0.35``: the photo stays recognisable, the tint gives the class away.

**Independent draws.** The colours are drawn from a stream of their own (:func:`colour_generator`),
never from the generator a subset is drawn with (:meth:`ImageDataset.subset` uses the plain seed):
sharing one made class 0's subset consist of exactly its bias-aligned images (no bias-conflicting 0).

**An unbiased training split** (:func:`unbiased_training_split`): the same training images
recoloured so that every class carries every colour equally often (colour independent of the
label), for a kNN bank and a linear probe that cannot profit from the colour (evaluation only).

Colour jitter and random grayscale would erase this shortcut: notebooks 06 and 07 train with
crops only (see :func:`shortcut_views_kwargs`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from .data import ImageDataset, _channel_stats, load_dataset

# Ten well-separated colours (0-255 RGB); colour c is class c's shortcut.
PALETTE = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (0, 128, 128),
)
COLOUR_NAMES = ("red", "green", "yellow", "blue", "orange", "purple", "cyan", "magenta", "lime", "teal")
TINT_STRENGTH = 0.35
# name -> (the real data set it is made from, how the colour is applied)
BIASED_DATASETS = {"colored_mnist": ("mnist", "paint"), "colored_digits": ("digits", "paint"),
                   "tinted_cifar10": ("cifar10", "tint")}


# Offsets that give each random draw of this module a stream of its own (never seed 0 of a subset).
_COLOUR_STREAM = 0x5EED_C010
_BALANCED_STREAM = 0x5EED_BA1A


def colour_generator(seed: int, stream: int = _COLOUR_STREAM) -> torch.Generator:
    """The generator of this module's draws for ``seed``: a stream apart from ``manual_seed(seed)``."""
    return torch.Generator().manual_seed(stream + int(seed))


def check_rho(rho: float) -> float:
    """Raise ``ValueError`` unless ``0 < rho <= 1``."""
    try:
        r = float(rho)
    except (TypeError, ValueError):
        r = float("nan")
    if not (math.isfinite(r) and 0.0 < r <= 1.0) or isinstance(rho, bool):
        raise ValueError(f"rho={rho!r} is invalid: it is the share of each training class that carries its "
                         "class's colour, a number in (0, 1] (0.99 is strongly biased, 0.1 is no bias for 10 "
                         "classes, 1 means no bias-conflicting training sample)")
    return r


def shortcut_attributes(labels: torch.Tensor, rho: float, num_attrs: int, gen: torch.Generator) -> torch.Tensor:
    """The shortcut attribute of each training sample ``(N,)``: exactly ``round(rho · n_c)`` samples of
    each class ``c`` get attribute ``c``, the others a uniform draw among the ``num_attrs - 1`` others."""
    rho = check_rho(rho)
    attrs = torch.empty_like(labels)
    for c in labels.unique().tolist():
        idx = torch.nonzero(labels == c).flatten()
        idx = idx[torch.randperm(len(idx), generator=gen)]
        n_aligned = round(rho * len(idx))
        other = torch.randint(num_attrs - 1, (len(idx) - n_aligned,), generator=gen)
        attrs[idx[:n_aligned]] = c
        attrs[idx[n_aligned:]] = other + (other >= c).long()  # skip the class's own colour
    return attrs


def apply_colour(images: torch.Tensor, attrs: torch.Tensor, how: str) -> torch.Tensor:
    """uint8 ``(N, 3, H, W)`` images carrying colour ``PALETTE[attrs[n]]``.

    ``how="paint"``: grayscale strokes ``(N, 1, H, W)`` painted in the colour (intensity × colour);
    ``how="tint"``: RGB images blended with the flat colour, ``(1 - s) x + s c``.
    """
    colours = torch.tensor(PALETTE, dtype=torch.float32)[attrs][:, :, None, None]  # (N, 3, 1, 1)
    x = images.float()
    if how == "paint":
        if images.shape[1] != 1:
            raise ValueError(f"painting needs grayscale images (N, 1, H, W), got {tuple(images.shape)}")
        out = x / 255.0 * colours
    elif how == "tint":
        if images.shape[1] != 3:
            raise ValueError(f"tinting needs RGB images (N, 3, H, W), got {tuple(images.shape)}")
        out = (1 - TINT_STRENGTH) * x + TINT_STRENGTH * colours
    else:
        raise ValueError(f"unknown colouring {how!r}: choose 'paint' or 'tint'")
    return out.round().clamp(0, 255).to(torch.uint8)


def make_biased(base: ImageDataset, rho: float, how: str, name: str, seed: int = 0) -> ImageDataset:
    """``base`` with a colour shortcut: aligned with the label for a share ``rho`` of each training
    class, independent of it at test (see the module docstring). ``seed`` fixes the colours drawn."""
    rho = check_rho(rho)
    num = len(PALETTE)
    if base.num_classes > num:
        raise ValueError(f"{base.name} has {base.num_classes} classes but the palette only {num} colours")
    gen = colour_generator(seed)
    attr_train = shortcut_attributes(base.y_train, rho, num, gen)
    attr_test = torch.randint(num, (len(base.y_test),), generator=gen)
    x_train = apply_colour(base.x_train, attr_train, how)
    mean, std = _channel_stats(x_train)
    return replace(base, name=name, x_train=x_train, x_test=apply_colour(base.x_test, attr_test, how),
                   mean=mean, std=std, attr_train=attr_train, attr_test=attr_test,
                   attributes=list(COLOUR_NAMES), source=f"{base.source}, coloured (rho={rho})",
                   x_train_source=base.x_train, colouring=how)


def load_biased_dataset(name: str, rho: float, root=None, download: bool | None = None, seed: int = 0) -> ImageDataset:
    """Load the real data set behind ``name`` (see :data:`BIASED_DATASETS`) and add its shortcut."""
    if name not in BIASED_DATASETS:
        raise ValueError(f"unknown biased dataset {name!r}: choose one of {', '.join(BIASED_DATASETS)}")
    rho = check_rho(rho)
    source, how = BIASED_DATASETS[name]
    return make_biased(load_dataset(source, root, download), rho, how, name, seed)


def balanced_attributes(labels: torch.Tensor, num_attrs: int, gen: torch.Generator) -> torch.Tensor:
    """An attribute per sample ``(N,)`` with every attribute equally often within each class (counts
    differ by at most one), in a random order: the attribute carries no information about the label."""
    attrs = torch.empty_like(labels)
    for c in labels.unique().tolist():
        idx = torch.nonzero(labels == c).flatten()
        offset = int(torch.randint(num_attrs, (1,), generator=gen))  # which colours get the spare images
        cycle = (torch.arange(len(idx)) + offset) % num_attrs
        attrs[idx] = cycle[torch.randperm(len(idx), generator=gen)]
    return attrs


@dataclass
class UnbiasedSplit:
    """Training images recoloured with colours independent of the label (:func:`unbiased_training_split`)."""

    x: torch.Tensor      # uint8 (N, 3, H, W)
    y: torch.Tensor      # int64 (N,): the labels of the training split, same order
    attrs: torch.Tensor  # int64 (N,): each image's new colour


def unbiased_training_split(data: ImageDataset, seed: int = 0) -> UnbiasedSplit:
    """The training images of a biased data set (:func:`make_biased`, any subset of it), recoloured
    so that each class carries each of the colours equally often (within one image): colour and
    label are independent. For evaluation only (a kNN bank and a probe's training set that cannot
    profit from the colour); ``seed`` fixes the colours, drawn from a stream of their own."""
    if data.x_train_source is None or data.colouring is None:
        raise ValueError(f"{data.name} keeps no uncoloured training images: an unbiased split needs a data set "
                         "made by cl_course.shortcuts.make_biased")
    attrs = balanced_attributes(data.y_train, len(PALETTE), colour_generator(seed, _BALANCED_STREAM))
    return UnbiasedSplit(x=apply_colour(data.x_train_source, attrs, data.colouring), y=data.y_train, attrs=attrs)


def is_aligned(labels: torch.Tensor, attrs: torch.Tensor) -> torch.Tensor:
    """Bias-aligned samples (colour = the label's colour), ``(N,)`` bool."""
    return labels == attrs


def shortcut_views_kwargs() -> dict:
    """The augmentation changes that keep a colour shortcut in place: no colour jitter, no grayscale,
    no flip (a flipped digit is another shape, and the shape is what must be learnt)."""
    return dict(jitter_p=0.0, gray_p=0.0, flip_p=0.0)
