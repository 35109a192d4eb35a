"""Diagnostics of a batch of projections: which pairs are positives, negatives, and secretly
same-class negatives (false negatives), and how well the contrastive task itself is solved."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .losses.similarity import check_views, cosine_logits, negative_mask, positive_index


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


def same_class_probability(labels: torch.Tensor) -> float:
    """``sum_c pi_c^2``: the probability that two independent draws from the data set share a class
    (``pi_c`` the share of class ``c`` in ``labels``); DCL's ``tau+`` (``1/C`` for balanced classes)."""
    pi = torch.bincount(labels).float() / len(labels)
    return (pi ** 2).sum().item()


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


@dataclass
class DetectionCounts:
    """True/false positives and misses of false-negative detection against the labels, summed over
    steps (FNC, notebook 04); ``end_epoch`` closes an epoch into ``history``."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    pairs: int = 0
    same: int = 0
    anchors: int = 0
    history: list[dict] = field(default_factory=list)

    def add(self, flagged: torch.Tensor, same_class: torch.Tensor) -> None:
        """Count one batch: ``flagged`` and ``same_class`` are ``(B, B)`` bool (diagonal false)."""
        self.tp += int((flagged & same_class).sum())
        self.fp += int((flagged & ~same_class).sum())
        self.fn += int((~flagged & same_class).sum())
        b = len(flagged)
        self.pairs += b * (b - 1)
        self.same += int(same_class.sum())
        self.anchors += b

    def summary(self) -> dict:
        """Precision, recall, the share of pairs flagged, flags per anchor, and the base rate of
        same-class pairs (the precision of a random guess); NaN where undefined."""
        flagged = self.tp + self.fp
        return {
            "detection_precision": self.tp / flagged if flagged else float("nan"),
            "detection_recall": self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan"),
            "flagged_share": flagged / self.pairs if self.pairs else float("nan"),
            "flags_per_anchor": flagged / self.anchors if self.anchors else float("nan"),
            "base_rate": self.same / self.pairs if self.pairs else float("nan"),
        }

    def end_epoch(self) -> dict:
        """The epoch's figures (recorded in ``history``); counts restart."""
        out = self.summary()
        self.history.append(out)
        self.tp = self.fp = self.fn = self.pairs = self.same = self.anchors = 0
        return out
