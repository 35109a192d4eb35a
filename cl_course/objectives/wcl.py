"""WCL's objective (notebook 07): a biased encoder trained with a self-supervised triplet loss
weights the negatives of a debiased one by relative difficulty (Jang & Wang 2023)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..losses import biased_triplet_loss, relative_difficulty_weights, weighted_debiased_nt_xent
from ..models import EncoderPair
from .two_view import DebiasedObjective


@dataclass(eq=False, kw_only=True)
class WCLObjective(DebiasedObjective):
    """The biased encoder learns from :func:`~cl_course.losses.biased_triplet_loss`, the debiased one
    from :func:`~cl_course.losses.weighted_debiased_nt_xent` with
    :func:`~cl_course.losses.relative_difficulty_weights` of the two (detached), on the same two
    views. The model is an :class:`~cl_course.models.EncoderPair` (:meth:`build_model`), whose
    biased encoder trains at ``biased_lr_scale`` times the learning rate. ``last_weights`` keeps
    the latest batch's weights for analysis.

    Cost: a second encoder through forward and backward (about 2× a SimCLR step).
    """

    biased_lr_scale: float = 1.0
    last_weights: torch.Tensor | None = field(default=None, init=False, repr=False)
    method = "WCL"

    def __post_init__(self):
        super().__post_init__()
        s = self.biased_lr_scale
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not (math.isfinite(s) and s > 0):
            raise ValueError(f"biased_lr_scale must be a number > 0 (the biased encoder's learning rate "
                             f"over the debiased one's), got {s!r}")

    def build_model(self, make_model: Callable[[int], torch.nn.Module], seed: int) -> EncoderPair:
        """The encoder pair: the debiased encoder initialised as every other variant (``seed``), the
        biased one from ``seed + 1000``."""
        return EncoderPair(make_model(seed), make_model(seed + 1000), self.biased_lr_scale)

    def __call__(self, model: EncoderPair, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator):
        x = self.views.stacked_pair(images, gen)  # (2B, C, H, W)
        d1, d2 = model.debiased(x).chunk(2)
        b1, b2 = model.biased(x).chunk(2)
        weights = relative_difficulty_weights(d1, d2, b1, b2, self.temperature)  # (2B, 2B), no gradient
        self.last_weights = weights
        return (weighted_debiased_nt_xent(d1, d2, weights, self.temperature, self.tau_plus)
                + biased_triplet_loss(b1, b2, self.tau_plus))
