"""Checkers for the notebooks' exercises: call ``check_<name>(your_function)``.

A checker prints ``correct`` and returns True when the function matches the package on random
cases; returns False (saying so) while the function still raises ``NotImplementedError``; and
raises ``AssertionError`` with the failing case when the answer is wrong.
"""
from __future__ import annotations

from typing import Callable

import torch

from .diagnostics import same_class_negative_share
from .evaluate import alignment, uniformity


def _run(name: str, fn: Callable, cases, reference: Callable, atol: float = 1e-5) -> bool:
    for i, args in enumerate(cases):
        try:
            got = fn(*args)
        except NotImplementedError:
            print(f"{name}: not attempted yet (replace `raise NotImplementedError` with your code)")
            return False
        want = reference(*args)
        got = float(got.item() if isinstance(got, torch.Tensor) else got)
        if abs(got - want) > atol * max(1.0, abs(want)):
            shapes = ", ".join(str(tuple(a.shape)) if isinstance(a, torch.Tensor) else repr(a) for a in args)
            raise AssertionError(f"{name}: case {i} with inputs of shape {shapes}: expected {want:.6f}, got {got:.6f}")
    print(f"{name}: correct on {len(cases)} cases")
    return True


def check_same_class_share(fn: Callable[[torch.Tensor], float]) -> bool:
    """``fn(labels) -> float``: the share of in-batch negatives that are same-class (false negatives)."""
    gen = torch.Generator().manual_seed(1)
    cases = [(torch.randint(0, c, (b,), generator=gen),) for b, c in [(8, 2), (64, 10), (256, 10), (33, 3)]]
    cases.append((torch.tensor([0, 0, 0, 1]),))  # unbalanced
    return _run("same-class negative share", fn, cases, same_class_negative_share)


def check_alignment(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> bool:
    """``fn(z1, z2) -> float``: Wang & Isola's alignment (alpha = 2) of normalised positive pairs."""
    gen = torch.Generator().manual_seed(2)
    cases = [(torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen)) for b, d in [(4, 3), (32, 16), (100, 128)]]
    cases.append((cases[1][0], cases[1][0] * 3.0))  # identical directions: alignment 0
    return _run("alignment", fn, cases, alignment)


def check_uniformity(fn: Callable[[torch.Tensor], float]) -> bool:
    """``fn(z) -> float``: Wang & Isola's uniformity (t = 2) of normalised rows."""
    gen = torch.Generator().manual_seed(3)
    cases = [(torch.randn(b, d, generator=gen),) for b, d in [(5, 2), (64, 16), (200, 128)]]
    return _run("uniformity", fn, cases, uniformity, atol=1e-4)
