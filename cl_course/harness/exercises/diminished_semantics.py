"""Checkers for the exercises of Notebook 06 (negatives with diminished semantics)."""
from __future__ import annotations

from typing import Callable

import torch

from ...losses import nonsemantic_logits, nonsemantic_nt_xent
from ...negatives import patchify
from .checking import projection_cases, run_cases


def check_nonsemantic_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, float], torch.Tensor]) -> bool:
    """``fn(z1, z2, z_neg, t, alpha) -> scalar``: NT-Xent with ``alpha``-scaled non-semantic negatives,
    ``z_neg`` of shape ``(B, K, D)``."""
    gen, pairs = projection_cases(11)
    cases = [(z1, z2, torch.randn(z1.shape[0], k, z1.shape[1], generator=gen), t, a)
             for (z1, z2), k, t, a in zip(pairs, (1, 2, 3), (0.5, 0.2, 1.0), (2.0, 1.0, 3.0))]
    return run_cases("non-semantic loss", fn, cases, nonsemantic_nt_xent,
                hint="Both views of image i see its K negatives, with logits alpha * cos / t, in the denominator.")


def check_patchify(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """``fn(x, p) -> (N, (H/p)·(W/p), C, p, p)``: the p×p patches of each image in row-major order."""
    gen = torch.Generator().manual_seed(12)
    cases = [(torch.rand(2, 3, 8, 8, generator=gen), 4), (torch.rand(3, 1, 12, 12, generator=gen), 3),
             (torch.rand(1, 3, 28, 28, generator=gen), 7)]
    return run_cases("patchify", fn, cases, patchify, atol=0, rtol=0,
                hint="Patch (r, c) of the grid holds rows r·p..(r+1)·p and columns c·p..(c+1)·p; order by r, then c.")


def copy_share(z1: torch.Tensor, z2: torch.Tensor, z_neg: torch.Tensor, t: float, alpha: float) -> torch.Tensor:
    """``(2B,)``: for each anchor (both views of each image), the share of its NT-Xent denominator
    (the positive, the 2B - 2 ordinary negatives and its K copies) that its own copies take, the
    copies' logits being ``alpha · cos / t``. It is also the share of the push away from negatives
    that goes to the copies (the softmax weight of the copies in the loss's gradient)."""
    logits, copies = nonsemantic_logits(z1, z2, z_neg, t, alpha)  # the loss's own denominator
    return torch.exp(torch.logsumexp(copies, 1) - torch.logsumexp(torch.cat([logits, copies], 1), 1))


def check_copy_share(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, float], torch.Tensor]) -> bool:
    """``fn(z1, z2, z_neg, t, alpha) -> (2B,)``: the share of each anchor's denominator taken by its
    own non-semantic copies (:func:`copy_share`)."""
    gen, pairs = projection_cases(15)
    cases = [(z1, z2, torch.randn(z1.shape[0], k, z1.shape[1], generator=gen), t, a)
             for (z1, z2), k, t, a in zip(pairs, (1, 2, 3), (0.5, 0.2, 1.0), (2.0, 1.0, 8.0))]
    return run_cases("copy share", fn, cases, copy_share,
                     hint="Anchor i's denominator: e^{s_ik/t} over every k != i (its positive included) plus "
                          "e^{alpha cos(z_i, copy)/t} over its K copies; the share is the copies' part of that sum.")
