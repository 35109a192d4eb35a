"""Checkers for the exercises of Notebook 07 (difficulty-based debiasing, WCL)."""
from __future__ import annotations

from typing import Callable

import torch

from ...losses import biased_triplet_loss, negative_mask, relative_difficulty_weights, unit_squared_distances
from .checking import projection_cases, run_cases


def _on_negatives(f):
    """A weight function (d1, d2, b1, b2, t) -> (2B, 2B) reduced to its negative entries (0 elsewhere)."""
    return lambda d1, d2, b1, b2, t: torch.where(negative_mask(d1.shape[0], d1.device),
                                                 f(d1, d2, b1, b2, t).float(), torch.zeros(()))


def check_relative_difficulty_weights(fn: Callable[..., torch.Tensor]) -> bool:
    """``fn(d1, d2, b1, b2, t) -> (2B, 2B)``: WCL's weights; only the negative entries are compared."""
    gen, pairs = projection_cases(13)
    cases = [(d1, d2, torch.randn_like(d1), torch.randn_like(d2), t) for (d1, d2), t in zip(pairs, (0.5, 0.2, 1.0))]

    return run_cases("relative difficulty weights", _on_negatives(fn), cases, _on_negatives(relative_difficulty_weights),
                hint="s = exp(cos/t), L2-normalised over each anchor's negatives; w = 1 + s_d / (s_b + s_d).")


def check_biased_triplet_loss(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """``fn(b1, b2, tau_plus) -> scalar``: WCL's self-supervised triplet loss of the biased encoder."""
    _, pairs = projection_cases(14)
    cases = [(b1, b2, tp) for (b1, b2), tp in zip(pairs, (0.0, 0.1, 0.3))]
    return run_cases("biased triplet loss", fn, cases, biased_triplet_loss,
                hint="Squared distances of unit vectors; d_pos - (sum of negative distances - tau+ N d_pos) / (1 - tau+).")


def reversed_difficulty_weights(d1, d2, b1, b2, t) -> torch.Tensor:
    """WCL's similarity-form weight with the two encoders' roles swapped: ``1 + s~b / (s~b + s~d)``,
    largest where the *biased* encoder finds the negative close (on the negatives; 1 elsewhere)."""
    return relative_difficulty_weights(b1, b2, d1, d2, t)


def check_reversed_weights(fn: Callable[..., torch.Tensor]) -> bool:
    """``fn(d1, d2, b1, b2, t) -> (2B, 2B)``: :func:`reversed_difficulty_weights`; only the negative
    entries are compared."""
    gen, pairs = projection_cases(16)
    cases = [(d1, d2, torch.randn_like(d1), torch.randn_like(d2), t) for (d1, d2), t in zip(pairs, (0.5, 0.2, 1.0))]

    return run_cases("reversed weights", _on_negatives(fn), cases, _on_negatives(reversed_difficulty_weights),
                     hint="The same normalised scores as section 2's weight, the biased encoder's in the numerator: "
                          "w = 1 + s~b / (s~b + s~d).")


def margin_triplet_loss(b1: torch.Tensor, b2: torch.Tensor, margin: float) -> torch.Tensor:
    """The usual triplet loss with a margin on squared distances of unit vectors: for each of the 2B
    anchors the mean over its N = 2B - 2 negatives of ``max(0, d(i, p(i)) - d(i, k) + margin)``; the
    mean over the anchors. Zero once every negative is ``margin`` farther than the positive."""
    dist, d_pos = unit_squared_distances(b1, b2)  # the distances biased_triplet_loss uses
    hinge = torch.relu(d_pos[:, None] - dist + margin)
    return (hinge * negative_mask(b1.shape[0], dist.device)).sum(1).div(2 * b1.shape[0] - 2).mean()


def check_margin_triplet(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """``fn(b1, b2, margin) -> scalar``: :func:`margin_triplet_loss`."""
    _, pairs = projection_cases(17)
    cases = [(b1, b2, m) for (b1, b2), m in zip(pairs, (0.5, 1.0, 2.0))]
    return run_cases("margin triplet loss", fn, cases, margin_triplet_loss, atol=1e-4,
                     hint="d = squared distance of unit vectors; per anchor the mean over its 2B - 2 negatives of "
                          "max(0, d_pos - d_neg + margin); then the mean over the 2B anchors.")
