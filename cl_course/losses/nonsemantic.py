"""NT-Xent with negatives of diminished semantics (Ge et al.): each image's own shape-less copies."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .similarity import check_temperature, check_views, positive_index, unit_anchors


def check_alpha(alpha: float) -> float:
    """Raise ``ValueError`` unless ``alpha`` is a finite number > 0."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        a = float("nan")
    if not (math.isfinite(a) and a > 0) or isinstance(alpha, bool):
        raise ValueError(f"alpha must be a finite number > 0 (the scale of the non-semantic negatives' logits), "
                         f"got {alpha!r}")
    return a


def nonsemantic_logits(z1: torch.Tensor, z2: torch.Tensor, z_neg: torch.Tensor, temperature: float = 0.5,
                       alpha: float = 2.0) -> tuple[torch.Tensor, torch.Tensor]:
    """The two blocks of the denominator of :func:`nonsemantic_nt_xent`, in float32: ``(2B, 2B)``
    logits ``s_ik / t`` with ``-inf`` on the diagonal (the positive included), and ``(2B, K)`` logits
    ``alpha · cos(z_i, zneg_{a,j}) / t`` of each anchor's own copies. ``z_neg`` is ``(B, D)`` or
    ``(B, K, D)``; raises ``ValueError`` as the loss does."""
    batch = check_views(z1, z2)
    t = check_temperature(temperature)
    a = check_alpha(alpha)
    dim = z1.shape[1]
    if not isinstance(z_neg, torch.Tensor) or not (
            (z_neg.dim() == 2 and z_neg.shape == (batch, dim))
            or (z_neg.dim() == 3 and z_neg.shape[0] == batch and z_neg.shape[1] >= 1 and z_neg.shape[2] == dim)):
        got = tuple(z_neg.shape) if isinstance(z_neg, torch.Tensor) else type(z_neg).__name__
        raise ValueError(f"z_neg must have shape ({batch}, {dim}) or ({batch}, K, {dim}) with K >= 1, got {got}")
    if z_neg.dim() == 2:
        z_neg = z_neg[:, None]
    z = unit_anchors(z1, z2)  # (2B, D)
    with torch.autocast(device_type=z.device.type, enabled=False):
        zn = F.normalize(z_neg.float(), dim=-1).repeat(2, 1, 1)  # (2B, K, D): both views see their image's copies
        logits = z @ z.T / t  # (2B, 2B)
        logits = logits.masked_fill(torch.eye(2 * batch, dtype=torch.bool, device=z.device), float("-inf"))
        copies = a * torch.einsum("id,ikd->ik", z, zn) / t  # (2B, K)
    return logits, copies


def nonsemantic_nt_xent(z1: torch.Tensor, z2: torch.Tensor, z_neg: torch.Tensor, temperature: float = 0.5,
                        alpha: float = 2.0) -> torch.Tensor:
    """NT-Xent with each image's non-semantic negatives in the denominators of both its views.

    Reference:
        [1] Ge, Mishra, Wang, Li, Jacobs. "Robust Contrastive Learning Using Negative Samples with
            Diminished Semantics", NeurIPS 2021. https://arxiv.org/abs/2110.14189

    Image ``a`` has ``K`` negatives made from itself (patch-shuffled, texture), ``z_neg[a, j]``; both
    of its anchors ``i`` (rows ``a`` and ``a + B``) get them with their logits scaled by ``alpha``:

        l_i = -log( e^{s_{i,p(i)}/t} / ( sum_{k != i} e^{s_ik/t} + sum_{j=1..K} e^{alpha·cos(z_i, zneg_{a,j})/t} ) ).

    Gradients flow into ``z_neg`` as into the views.

    Args:
        z1, z2: ``(B, D)`` projections of two views of the same images.
        z_neg: ``(B, D)`` or ``(B, K, D)`` projections of the non-semantic negatives of each image.
        temperature: ``t > 0``.
        alpha: scale of the non-semantic logits, ``> 0``.

    Returns:
        Scalar: the mean over the ``2B`` anchors.

    Raises:
        ValueError: bad shapes, ``B < 2``, ``temperature <= 0``, ``alpha <= 0``.

    Examples:
        >>> loss = nonsemantic_nt_xent(torch.randn(8, 16), torch.randn(8, 16), torch.randn(8, 2, 16))
    """
    logits, copies = nonsemantic_logits(z1, z2, z_neg, temperature, alpha)
    with torch.autocast(device_type=logits.device.type, enabled=False):
        return F.cross_entropy(torch.cat([logits, copies], dim=1), positive_index(z1.shape[0], logits.device))
