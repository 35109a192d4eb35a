"""NT-Xent (InfoNCE over in-batch negatives), the loss of SimCLR."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .similarity import check_temperature, check_views, cosine_logits, positive_index


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """Normalised temperature-scaled cross-entropy loss (NT-Xent).

    Reference:
        [1] Chen, Kornblith, Norouzi, Hinton. "A Simple Framework for Contrastive Learning of
            Visual Representations" (SimCLR), ICML 2020. https://arxiv.org/abs/2002.05709

    The ``2B`` anchors are the rows of ``[z1; z2]``, L2-normalised; ``s_ij = cos(z_i, z_j)``.
    Anchor ``i`` has its positive ``p(i) = (i + B) mod 2B`` and the ``2B - 2`` other rows as
    negatives. The loss is the mean over anchors of

        l_i = -log( e^{s_{i,p(i)}/t} / sum_{k != i} e^{s_ik/t} )

    computed as a (2B-1)-way cross-entropy with the positive as the target class (log-sum-exp,
    so it stays finite at small ``t`` and under bf16 autocast: the similarities are taken in
    float32). Equals ``lightly.loss.NTXentLoss(temperature)``.

    Args:
        z1: ``(B, D)`` projections of the first view of ``B`` images.
        z2: ``(B, D)`` projections of the second view of the same images, in the same order.
        temperature: ``t > 0``.

    Returns:
        A scalar tensor: the mean loss over the ``2B`` anchors.

    Raises:
        ValueError: if the shapes differ or are not ``(B, D)``, if ``B < 2``, or if
            ``temperature <= 0``.

    Examples:
        >>> z1, z2 = torch.randn(8, 16), torch.randn(8, 16)
        >>> loss = nt_xent(z1, z2, temperature=0.5)
    """
    batch = check_views(z1, z2)
    t = check_temperature(temperature)
    logits = cosine_logits(z1, z2, t)  # (2B, 2B)
    self_mask = torch.eye(2 * batch, dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(self_mask, float("-inf"))  # an anchor is not its own negative
    return F.cross_entropy(logits, positive_index(batch, logits.device))
