"""Checkers for the exercises of Notebook 01 (SimCLR basics)."""
from __future__ import annotations

from typing import Callable

import torch

from ...diagnostics import same_class_negative_share
from ...evaluate import alignment, uniformity
from .checking import run_cases


def check_same_class_share(fn: Callable[[torch.Tensor], float]) -> bool:
    """``fn(labels) -> float``: the share of in-batch negatives that are same-class (false negatives)."""
    gen = torch.Generator().manual_seed(1)
    cases = [(torch.randint(0, c, (b,), generator=gen),) for b, c in [(8, 2), (64, 10), (256, 10), (33, 3)]]
    cases.append((torch.tensor([0, 0, 0, 1]),))  # unbalanced
    return run_cases("same-class negative share", fn, cases, same_class_negative_share)


def check_alignment(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> bool:
    """``fn(z1, z2) -> float``: Wang & Isola's alignment (alpha = 2) of normalised positive pairs."""
    gen = torch.Generator().manual_seed(2)
    cases = [(torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen)) for b, d in [(4, 3), (32, 16), (100, 128)]]
    cases.append((cases[1][0], cases[1][0] * 3.0))  # identical directions: alignment 0
    return run_cases("alignment", fn, cases, alignment)


def check_uniformity(fn: Callable[[torch.Tensor], float]) -> bool:
    """``fn(z) -> float``: Wang & Isola's uniformity (t = 2) of normalised rows."""
    gen = torch.Generator().manual_seed(3)
    cases = [(torch.randn(b, d, generator=gen),) for b, d in [(5, 2), (64, 16), (200, 128)]]
    return run_cases("uniformity", fn, cases, uniformity, atol=1e-4)
