"""Checkers for the exercises of Notebook 03 (debiasing, DCL)."""
from __future__ import annotations

from typing import Callable

import torch

from ...diagnostics import same_class_probability
from ...losses import debiased_negative_sum
from .checking import run_cases


def check_class_prior(fn: Callable[[torch.Tensor], float]) -> bool:
    """``fn(labels) -> float``: probability that two independent samples share a class, ``sum_c pi_c^2``."""
    gen = torch.Generator().manual_seed(6)
    cases = [(torch.arange(10).repeat(50),), (torch.randint(0, 3, (101,), generator=gen),),
             (torch.tensor([0] * 90 + [1] * 10),), (torch.zeros(7, dtype=torch.long),)]
    return run_cases("class prior", fn, cases, same_class_probability)


def check_debiased_negatives(fn: Callable[[torch.Tensor, torch.Tensor, float, float], torch.Tensor]) -> bool:
    """``fn(pos, neg, t, tau_plus) -> (M,)``: DCL's clamped estimate ``N max(g, e^{-1/t})`` per anchor."""
    gen = torch.Generator().manual_seed(7)
    cases = []
    for m, n, t, tp in [(4, 6, 0.5, 0.1), (16, 30, 0.2, 0.2), (8, 14, 1.0, 0.0), (5, 8, 0.5, 0.9)]:
        cos = torch.rand(m, n + 1, generator=gen) * 2 - 1
        cases.append((cos[:, 0] / t, cos[:, 1:] / t, t, tp))
    return run_cases("debiased negatives", fn, cases, debiased_negative_sum, atol=1e-6, rtol=1e-4,
                hint="Is the clamp at e^(-1/t) applied before multiplying by N?")
