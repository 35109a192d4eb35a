"""Diagnostics of a batch of projections: which pairs are positives, negatives, and secretly
same-class negatives (false negatives), and how well the contrastive task itself is solved."""
from __future__ import annotations

import torch

from .losses._common import check_views, cosine_logits, negative_mask, positive_index


def pair_similarities(z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor) -> dict[str, torch.Tensor]:
    """Cosine similarities of every anchor of ``[z1; z2]`` to its positive and its negatives,
    the negatives split by whether they share the anchor's class (labels used for analysis only).

    Returns ``{"positive": (2B,), "negative, other class": (n,), "negative, same class": (m,)}``.
    """
    batch = check_views(z1, z2)
    if labels.shape != (batch,):
        raise ValueError(f"labels must have shape ({batch},), got {tuple(labels.shape)}")
    sim = cosine_logits(z1, z2, 1.0)  # (2B, 2B) float32 cosines
    y = torch.cat([labels, labels]).to(sim.device)
    neg = negative_mask(batch, sim.device)
    same = y[:, None] == y[None, :]
    rows = torch.arange(2 * batch, device=sim.device)
    return {
        "positive": sim[rows, positive_index(batch, sim.device)],
        "negative, other class": sim[neg & ~same],
        "negative, same class": sim[neg & same],
    }


def same_class_negative_share(labels: torch.Tensor) -> float:
    """Share of the in-batch negatives (over all ``2B`` anchors) that have the anchor's class.

    Anchor of image ``a`` has ``2B - 2`` negatives, ``2·(n_{y_a} - 1)`` of them same-class, where
    ``n_c`` counts class ``c`` in the batch. For labels drawn uniformly from ``C`` classes the
    expectation is exactly ``1/C``.
    """
    batch = len(labels)
    if batch < 2:
        raise ValueError(f"labels must hold at least 2 images, got {batch}")
    counts = torch.bincount(labels)
    same = 2 * (counts[labels] - 1)  # same-class negatives of each image's two anchors
    return (same.sum() * 2 / (2 * batch * (2 * batch - 2))).item()


def contrast_accuracy(z1: torch.Tensor, z2: torch.Tensor) -> float:
    """Share of anchors whose most similar other row is their positive (MoCo's free sanity metric:
    the contrastive task as a (2B-1)-way classification)."""
    batch = check_views(z1, z2)
    sim = cosine_logits(z1, z2, 1.0).fill_diagonal_(float("-inf"))
    return (sim.argmax(1) == positive_index(batch, sim.device)).float().mean().item()


def same_class_negatives(labels: torch.Tensor) -> torch.Tensor:
    """``(2B, 2B - 2)`` bool: which of each anchor's negatives share its class, in the column order
    of the losses' negative logits (``losses.debiased.split_logits``). Labels for analysis only."""
    batch = len(labels)
    y = torch.cat([labels, labels])
    same = y[:, None] == y[None, :]
    return same[negative_mask(batch, same.device)].view(2 * batch, 2 * batch - 2)


def effective_negatives(w: torch.Tensor) -> float:
    """Mean over anchors (rows) of the effective sample size ``(sum_k w_k)^2 / sum_k w_k^2`` of a
    ``(M, N)`` matrix of weights on negatives: ``N`` for uniform weights, 1 when one dominates."""
    return ((w.sum(1) ** 2) / (w ** 2).sum(1)).mean().item()


def shortcut_pair_masks(labels: torch.Tensor, attrs: torch.Tensor) -> dict[str, torch.Tensor]:
    """``(2B, 2B)`` bool masks over each anchor's negatives, by whether a negative shares the
    anchor's label and its shortcut attribute (group labels, for analysis only). A negative with the
    anchor's colour but another digit is what a colour shortcut confuses: a hard negative."""
    batch = len(labels)
    if attrs.shape != labels.shape:
        raise ValueError(f"attrs must have the shape of labels {tuple(labels.shape)}, got {tuple(attrs.shape)}")
    y, a = torch.cat([labels, labels]), torch.cat([attrs, attrs])
    neg = negative_mask(batch, labels.device)
    same_y, same_a = y[:, None] == y[None, :], a[:, None] == a[None, :]
    return {"same colour, other class": neg & same_a & ~same_y,
            "other colour, same class": neg & ~same_a & same_y,
            "other colour, other class": neg & ~same_a & ~same_y,
            "same colour, same class": neg & same_a & same_y}
