"""NT-Xent without the negatives known to be false: the label-using upper bound of the course."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .similarity import check_temperature, check_views, cosine_logits, positive_index


def check_image_mask(mask: torch.Tensor, batch: int, name: str) -> torch.Tensor:
    """Check a ``(B, B)`` bool mask over the images of a batch."""
    if not isinstance(mask, torch.Tensor) or mask.dtype != torch.bool or mask.shape != (batch, batch):
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, torch.Tensor) else type(mask).__name__
        raise ValueError(f"{name} must be a bool tensor of shape ({batch}, {batch}), got {got}")
    return mask


def nt_xent_without(z1: torch.Tensor, z2: torch.Tensor, drop: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent with the negatives flagged in ``drop`` removed from each anchor's denominator.

    ``drop`` is a ``(B, B)`` bool mask over images (``drop[a, b]``: image ``b`` is not a negative
    of image ``a``), applied to both views of both images; its diagonal is ignored (an image's
    other view is its positive). With an all-false mask this is ``nt_xent``.

        l_i = -log( e^{s_{i,p(i)}/t} / sum_{k != i, k not dropped} e^{s_ik/t} )
    """
    batch = check_views(z1, z2)
    t = check_temperature(temperature)
    drop = check_image_mask(drop, batch, "drop")
    logits = cosine_logits(z1, z2, t)  # (2B, 2B)
    eye = torch.eye(batch, dtype=torch.bool, device=drop.device)
    image_drop = (drop & ~eye).repeat(2, 2).to(logits.device)  # (2B, 2B) over the views
    self_mask = torch.eye(2 * batch, dtype=torch.bool, device=logits.device)
    logits = logits.masked_fill(self_mask | image_drop, float("-inf"))
    return F.cross_entropy(logits, positive_index(batch, logits.device))


def oracle_nt_xent(z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor, temperature: float = 0.5) -> torch.Tensor:
    """NT-Xent whose denominators keep only negatives of another class (labels known): the oracle
    that DCL's debiasing and FNC's cancellation try to approach without labels.

    Reference: the "unbiased" / oracle estimator of Chuang et al., "Debiased Contrastive
    Learning", NeurIPS 2020 (Figure 1), and the oracle of Huynh et al. (FNC), WACV 2022.

        l_i = -log( e^{s_{i,p(i)}/t} / (e^{s_{i,p(i)}/t} + sum_{k: y_k != y_i} e^{s_ik/t}) )

    Raises:
        ValueError: as ``nt_xent``, or ``labels`` not of shape ``(B,)``.
    """
    batch = check_views(z1, z2)
    if not isinstance(labels, torch.Tensor) or labels.shape != (batch,):
        raise ValueError(f"labels must be a tensor of shape ({batch},), got "
                         f"{tuple(labels.shape) if isinstance(labels, torch.Tensor) else type(labels).__name__}")
    return nt_xent_without(z1, z2, labels[:, None] == labels[None, :], temperature)
