"""Argument checks and the similarity matrix that every contrastive loss in this package shares."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def check_views(z1: torch.Tensor, z2: torch.Tensor) -> int:
    """Check two batches of projections and return the batch size B.

    Raises:
        ValueError: if ``z1``/``z2`` are not 2-D, differ in shape, or hold fewer than 2 rows.
    """
    for name, z in (("z1", z1), ("z2", z2)):
        if not isinstance(z, torch.Tensor):
            raise ValueError(f"{name} must be a torch.Tensor, got {type(z).__name__}")
        if z.dim() != 2:
            raise ValueError(f"{name} must have shape (B, D), got {tuple(z.shape)}")
    if z1.shape != z2.shape:
        raise ValueError(
            f"z1 and z2 must have the same shape (B, D), got {tuple(z1.shape)} and {tuple(z2.shape)}"
        )
    batch = z1.shape[0]
    if batch < 2:
        raise ValueError(f"batch size B must be at least 2 (an anchor needs a negative), got B={batch}")
    return batch


def check_temperature(temperature: float) -> float:
    """Raise ``ValueError`` unless ``temperature`` is a finite number > 0."""
    t = float(temperature)
    if not math.isfinite(t) or t <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    return t


def positive_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """``cos(z_i, z_p(i)) / t`` for the ``2B`` anchors ``(2B,)``, in float32, computed from the rows
    (cheaper in the backward pass than indexing the ``(2B, 2B)`` matrix)."""
    with torch.autocast(device_type=z1.device.type, enabled=False):
        pos = (F.normalize(z1.float(), dim=1) * F.normalize(z2.float(), dim=1)).sum(1) / temperature  # (B,)
        return torch.cat([pos, pos])


def cosine_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> torch.Tensor:
    """Return the ``(2B, 2B)`` matrix ``cos(z_i, z_j) / t`` of the anchors ``[z1; z2]`` in float32.

    The diagonal (an anchor with itself) is left in place; callers mask it.
    """
    z = unit_anchors(z1, z2)
    # Autocast would run the matmul in bf16 whatever its inputs; the logits must be float32.
    with torch.autocast(device_type=z1.device.type, enabled=False):
        return z @ z.T / temperature  # (2B, 2B)


def unit_anchors(z1: torch.Tensor, z2: torch.Tensor) -> torch.Tensor:
    """The ``2B`` anchors ``[z1; z2]`` scaled to unit length, ``(2B, D)`` in float32."""
    with torch.autocast(device_type=z1.device.type, enabled=False):
        return F.normalize(torch.cat([z1, z2]).float(), dim=1)


def positive_index(batch: int, device: torch.device) -> torch.Tensor:
    """Index of each anchor's positive: row ``i`` pairs with row ``(i + B) mod 2B``."""
    return (torch.arange(2 * batch, device=device) + batch) % (2 * batch)


def negative_mask(batch: int, device: torch.device) -> torch.Tensor:
    """``(2B, 2B)`` bool mask, True on each anchor's ``2B - 2`` negatives (not itself, not its positive)."""
    n = 2 * batch
    eye = torch.eye(n, dtype=torch.bool, device=device)
    pos = torch.zeros(n, n, dtype=torch.bool, device=device)
    pos[torch.arange(n, device=device), positive_index(batch, device)] = True
    return ~(eye | pos)
