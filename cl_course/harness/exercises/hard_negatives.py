"""Checkers for the exercises of Notebook 02 (hard negatives, HCL)."""
from __future__ import annotations

from typing import Callable

import torch

from ...diagnostics import effective_negatives
from ...losses import importance_weights
from .checking import run_cases


def check_importance_weights(fn: Callable[[torch.Tensor, torch.Tensor, float, float], torch.Tensor]) -> bool:
    """``fn(z1, z2, t, beta) -> (2B, 2B-2)``: HCL's self-normalised importance weights (mean 1 per row)."""
    gen = torch.Generator().manual_seed(4)
    cases = [(torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen), t, beta)
             for b, d, t, beta in [(3, 4, 0.5, 1.0), (8, 16, 0.2, 2.0), (16, 8, 1.0, 0.0)]]
    return run_cases("importance weights", fn, cases, importance_weights, atol=1e-4, rtol=1e-4,
                hint="Are the rows normalised to mean 1?")


def check_effective_negatives(fn: Callable[[torch.Tensor], float]) -> bool:
    """``fn(w) -> float``: mean effective number of negatives of a weight matrix."""
    gen = torch.Generator().manual_seed(5)
    cases = [(torch.ones(4, 6),), (torch.rand(8, 30, generator=gen),), (torch.eye(5) * 3 + 1e-3,),
             (torch.softmax(4 * torch.randn(16, 62, generator=gen), 1) * 62,)]
    return run_cases("effective negatives", fn, cases, effective_negatives, atol=1e-4)
