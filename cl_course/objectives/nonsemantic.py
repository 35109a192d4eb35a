"""Ge et al.'s objective (notebook 06): each image's own copies with diminished semantics
(patch-shuffled or texture tiles) as extra, ``alpha``-scaled negatives (Ge et al. 2021)."""
from __future__ import annotations

from dataclasses import dataclass

import torch

from ..losses import nonsemantic_nt_xent
from ..losses.nonsemantic import check_alpha
from ..negatives import check_kind, check_patch_sizes, make_negatives
from .two_view import SimCLRObjective


@dataclass(eq=False, kw_only=True)
class NonSemanticObjective(SimCLRObjective):
    """Two views, plus ``num_negatives`` non-semantic negatives made from the first view of every
    image (:mod:`cl_course.negatives`), all in one forward pass; then
    :func:`~cl_course.losses.nonsemantic_nt_xent`. A patch size is drawn anew every step.

    ``copy_gradient=False`` (as published): the copies are encoded in a forward pass of their own
    without gradient, as the authors' momentum key encoder encodes them (songweige/Contrastive-
    Learning-with-Non-Semantic-Negatives, ``moco/builder.py``): only the anchors learn to move away
    from their copies. ``True`` back-propagates through the copies too (and they share the views'
    batch statistics), which lets the encoder separate a copy by its own artefacts (patch seams).

    Cost: ``num_negatives`` extra images per image through a forward pass (and, with
    ``copy_gradient``, the backward pass: about ``(2 + K) / 2`` times a SimCLR step).
    """

    kind: str = "patch"
    patch_sizes: tuple = (4,)
    alpha: float = 2.0
    num_negatives: int = 1
    copy_gradient: bool = False
    method = "non-semantic negatives"

    def __post_init__(self):
        super().__post_init__()
        check_kind(self.kind)
        self.patch_sizes = check_patch_sizes(self.patch_sizes, self.views.size)
        self.alpha = check_alpha(self.alpha)
        if not (isinstance(self.num_negatives, int) and not isinstance(self.num_negatives, bool)
                and self.num_negatives >= 1):
            raise ValueError(f"num_negatives must be an integer >= 1, got {self.num_negatives!r}")
        if not isinstance(self.copy_gradient, bool):
            raise ValueError(f"copy_gradient must be True or False, got {self.copy_gradient!r}")

    def __call__(self, model, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator):
        b = len(images)
        x = self.views.stacked_pair(images, gen)  # (2B, C, H, W)
        negs = [make_negatives(self.kind, x[:b], self.patch_sizes, gen) for _ in range(self.num_negatives)]
        if self.copy_gradient:
            z = model(torch.cat([x, *negs]).contiguous(memory_format=torch.channels_last))
            z1, z2, zn = z[:b], z[b:2 * b], z[2 * b:]
        else:
            z1, z2 = model(x).chunk(2)
            with torch.no_grad():  # the copies are constants, as the authors' key encoder makes them
                zn = model(torch.cat(negs).contiguous(memory_format=torch.channels_last))
        zn = zn.view(self.num_negatives, b, -1).transpose(0, 1)  # (B, K, D)
        return nonsemantic_nt_xent(z1, z2, zn, self.temperature, self.alpha)
