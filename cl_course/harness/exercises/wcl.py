"""Checkers for the exercises of Notebook 07 (difficulty-based debiasing, WCL)."""
from __future__ import annotations

from typing import Callable

import torch

from ...losses import biased_triplet_loss, negative_mask, relative_difficulty_weights
from .checking import projection_cases, run_cases


def check_relative_difficulty_weights(fn: Callable[..., torch.Tensor]) -> bool:
    """``fn(d1, d2, b1, b2, t) -> (2B, 2B)``: WCL's weights; only the negative entries are compared."""
    gen, pairs = projection_cases(13)
    cases = [(d1, d2, torch.randn_like(d1), torch.randn_like(d2), t) for (d1, d2), t in zip(pairs, (0.5, 0.2, 1.0))]

    def only_negatives(f):
        return lambda d1, d2, b1, b2, t: torch.where(negative_mask(d1.shape[0], d1.device),
                                                     f(d1, d2, b1, b2, t).float(), torch.zeros(()))
    return run_cases("relative difficulty weights", only_negatives(fn), cases, only_negatives(relative_difficulty_weights),
                hint="s = exp(cos/t), L2-normalised over each anchor's negatives; w = 1 + s_d / (s_b + s_d).")


def check_biased_triplet_loss(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """``fn(b1, b2, tau_plus) -> scalar``: WCL's self-supervised triplet loss of the biased encoder."""
    _, pairs = projection_cases(14)
    cases = [(b1, b2, tp) for (b1, b2), tp in zip(pairs, (0.0, 0.1, 0.3))]
    return run_cases("biased triplet loss", fn, cases, biased_triplet_loss,
                hint="Squared distances of unit vectors; d_pos - (sum of negative distances - tau+ N d_pos) / (1 - tau+).")
