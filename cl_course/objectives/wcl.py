"""WCL's objective (notebook 07): a biased encoder trained with a self-supervised triplet loss
weights the negatives of a debiased one by relative difficulty (Jang & Wang 2023)."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch

from ..losses import (biased_triplet_loss, distance_difficulty_weights, relative_difficulty_weights,
                      weighted_debiased_nt_xent)
from ..losses.wcl import WEIGHT_FORMS
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

    ``weight_form``: ``"similarity"`` (the authors' ``main-wctr.py``,
    :func:`~cl_course.losses.relative_difficulty_weights`) or ``"distance"`` (their ``main.py``,
    :func:`~cl_course.losses.distance_difficulty_weights`). Each epoch's record gets the mean of each
    loss term apart (``loss_debiased``: weighted DCL; ``loss_biased``: the triplet loss, large and
    negative), so that a plot of ``loss_debiased`` compares with the other methods' ``loss``.

    Cost: a second encoder through forward and backward (about 2× a SimCLR step).
    """

    biased_lr_scale: float = 1.0
    weight_form: str = "similarity"
    last_weights: torch.Tensor | None = field(default=None, init=False, repr=False)
    _terms: list = field(default_factory=list, init=False, repr=False)
    method = "WCL"

    def __post_init__(self):
        super().__post_init__()
        s = self.biased_lr_scale
        if isinstance(s, bool) or not isinstance(s, (int, float)) or not (math.isfinite(s) and s > 0):
            raise ValueError(f"biased_lr_scale must be a number > 0 (the biased encoder's learning rate "
                             f"over the debiased one's), got {s!r}")
        if self.weight_form not in WEIGHT_FORMS:
            raise ValueError(f"weight_form must be one of {WEIGHT_FORMS} (the authors' main-wctr.py and main.py), "
                             f"got {self.weight_form!r}")

    def build_model(self, make_model: Callable[[int], torch.nn.Module], seed: int) -> EncoderPair:
        """The encoder pair: the debiased encoder initialised as every other variant (``seed``), the
        biased one from ``seed + 1000``."""
        return EncoderPair(make_model(seed), make_model(seed + 1000), self.biased_lr_scale)

    def __call__(self, model: EncoderPair, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator):
        x = self.views.stacked_pair(images, gen)  # (2B, C, H, W)
        d1, d2 = model.debiased(x).chunk(2)
        b1, b2 = model.biased(x).chunk(2)
        if self.weight_form == "similarity":
            weights = relative_difficulty_weights(d1, d2, b1, b2, self.temperature)  # (2B, 2B), no gradient
        else:
            weights = distance_difficulty_weights(d1, d2, b1, b2)
        self.last_weights = weights
        debiased = weighted_debiased_nt_xent(d1, d2, weights, self.temperature, self.tau_plus)
        biased = biased_triplet_loss(b1, b2, self.tau_plus)
        self._terms.append(torch.stack([debiased.detach(), biased.detach()]))  # no host sync per step
        return debiased + biased

    def end_epoch(self) -> dict:
        """The epoch's mean of each loss term: ``loss_debiased`` (weighted DCL), ``loss_biased`` (triplet)."""
        if not self._terms:
            return {}
        debiased, biased = torch.stack(self._terms).float().mean(0).tolist()
        self._terms.clear()
        return {"loss_debiased": debiased, "loss_biased": biased}
