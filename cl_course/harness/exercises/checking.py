"""How a checker judges an answer: the learner's function against the package's on fixed cases.

A checker prints ``correct`` and returns True when the function matches the package on random
cases; returns False (saying so) while the function still raises ``NotImplementedError``; and
raises ``AssertionError`` with the failing case when the answer is wrong.
"""
from __future__ import annotations

from typing import Callable

import torch


def preview(a: torch.Tensor, n: int = 6) -> str:
    """A tensor in a line: its shape and its values (the first ``n`` when there are more)."""
    flat = a.detach().flatten()
    values = ", ".join(f"{v:.4g}" if a.is_floating_point() else str(v) for v in flat[:n].tolist())
    more = f", ... ({a.numel()} values)" if a.numel() > n else ""
    return f"shape {tuple(a.shape)} [{values}{more}]"


def describe(args) -> str:
    """The inputs of a case in a line: each tensor's shape and first values, else its repr."""
    return ", ".join(preview(a) if isinstance(a, torch.Tensor) else repr(a) for a in args)


def run_cases(name: str, fn: Callable, cases, reference: Callable, atol: float = 1e-5, rtol: float = 1e-5,
              hint: str = "") -> bool:
    """Compare ``fn(*case)`` with ``reference(*case)`` (numbers or tensors) on every case; a wrong
    answer stops with the case's inputs, the expected and the returned values."""
    for i, args in enumerate(cases):
        try:
            got = fn(*args)
        except NotImplementedError:
            print(f"{name}: not attempted yet (replace `raise NotImplementedError` with your code)")
            return False
        want = reference(*args)
        where = f"{name}: case {i}, inputs {describe(args)}"
        if isinstance(want, torch.Tensor):
            if not isinstance(got, torch.Tensor) or got.shape != want.shape:
                shown = preview(got) if isinstance(got, torch.Tensor) else f"{type(got).__name__} {got!r}"
                raise AssertionError(f"{where}: expected a tensor of {preview(want)}, got {shown}. {hint}".rstrip())
            if not torch.allclose(got.float(), want.float(), atol=atol, rtol=rtol):
                err = (got.float() - want.float()).abs()
                at = tuple(int(j) for j in torch.unravel_index(err.argmax(), err.shape))
                raise AssertionError(f"{where}: at index {at} expected {want.float()[at].item():.6g}, got "
                                     f"{got.float()[at].item():.6g} (largest error {err.max():.3g}). {hint}".rstrip())
            continue
        got = float(got.item() if isinstance(got, torch.Tensor) else got)
        if abs(got - want) > atol * max(1.0, abs(want)):
            raise AssertionError(f"{where}: expected {want:.6f}, got {got:.6f}. {hint}".rstrip())
    print(f"{name}: correct on {len(cases)} cases")
    return True


def projection_cases(seed: int, sizes=((4, 8), (8, 16), (16, 32))):
    gen = torch.Generator().manual_seed(seed)
    return gen, [(torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen)) for b, d in sizes]
