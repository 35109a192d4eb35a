"""Checkers for the exercises of Notebook 05 (ring sampling, CNCE)."""
from __future__ import annotations

from typing import Callable

import torch

from ...losses import cosine_logits, ring_mask
from ...objectives import annealed_ring
from .checking import run_cases


def check_ring_mask(fn: Callable[[torch.Tensor, int, float, float], torch.Tensor]) -> bool:
    """``fn(logits, B, lower, upper) -> (2B, 2B) bool``: each anchor's negatives inside the ring."""
    gen = torch.Generator().manual_seed(10)
    cases = []
    for b, lo, up in [(4, 0.0, 1.0), (8, 0.1, 0.5), (16, 0.05, 0.6), (6, 0.5, 1.0)]:
        cases.append((cosine_logits(torch.randn(b, 8, generator=gen), torch.randn(b, 8, generator=gen), 0.5), b, lo, up))
    return run_cases("ring mask", lambda *a: fn(*a).to(torch.float32), cases,
                lambda *a: ring_mask(*a).to(torch.float32), atol=0, rtol=0,
                hint="Rank 0 is the most similar negative; self and positive are never kept.")


def check_ring_schedule(fn: Callable[[float, float, float], tuple]) -> bool:
    """``fn(progress, lower, upper) -> (lower_now, upper_now)``: the annealed ring."""
    cases = [(p, lo, up) for p in (0.0, 0.25, 0.5, 1.0, 1.5) for lo, up in [(0.05, 0.6), (0.2, 0.5)]]
    return run_cases("ring schedule", lambda *a: torch.tensor(fn(*a), dtype=torch.float64), cases,
                lambda *a: torch.tensor(annealed_ring(*a), dtype=torch.float64), atol=1e-9,
                hint="At progress 0 the ring is (0, 1); past 1 it stays at (lower, upper).")
