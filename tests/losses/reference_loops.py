"""Slow loops written from the papers' equations, shared by the loss tests of several modules."""
from __future__ import annotations

import math

import torch


def reference_loop(z1, z2, t, tau_plus, beta):
    """Per anchor, in float64 and exp space: Ng = max((N·Σ w e^{s/t} − τ⁺N e^{s⁺/t})/(1−τ⁺), N e^{−1/t})."""
    z = torch.nn.functional.normalize(torch.cat([z1, z2]).double(), dim=1)
    n2 = z.shape[0]
    b = n2 // 2
    losses = []
    for i in range(n2):
        p = (i + b) % n2
        pos = torch.exp(z[i] @ z[p] / t)
        negs = torch.stack([torch.exp(z[i] @ z[k] / t) for k in range(n2) if k not in (i, p)])
        n = len(negs)
        imp = negs ** beta  # e^{β s/t}
        reweighted = (imp * negs).sum() / imp.mean()
        ng = (-tau_plus * n * pos + reweighted) / (1 - tau_plus)
        ng = torch.clamp(ng, min=n * math.exp(-1 / t))
        losses.append(-torch.log(pos / (pos + ng)))
    return torch.stack(losses).mean()


def randn(gen, *shape):
    return torch.randn(*shape, generator=gen)


def pair(b=6, d=8, seed=0, grad=False):
    g = torch.Generator().manual_seed(seed)
    z1, z2 = torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)
    return (z1.requires_grad_(), z2.requires_grad_()) if grad else (z1, z2)


def unit(z1, z2):
    return torch.nn.functional.normalize(torch.cat([z1, z2]).double(), dim=1)


def positive_of(i, b):
    """The row of anchor ``i``'s positive among ``2b`` anchors."""
    return (i + b) % (2 * b)


def negatives_of(i, b):
    """The rows of anchor ``i``'s ``2b - 2`` negatives."""
    return [k for k in range(2 * b) if k not in (i, positive_of(i, b))]
