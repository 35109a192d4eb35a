"""Objectives beyond two views: FNC's support set (extra views of each anchor, no gradient) with
detection statistics against the labels (for analysis only)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from .augment import SimCLRViews
from .losses import detect_false_negatives, fnc_nt_xent


@dataclass
class DetectionCounts:
    """True/false positives and misses of false-negative detection, summed over steps."""

    tp: int = 0
    fp: int = 0
    fn: int = 0
    pairs: int = 0
    same: int = 0
    history: list[dict] = field(default_factory=list)

    def add(self, flagged: torch.Tensor, same_class: torch.Tensor) -> None:
        self.tp += int((flagged & same_class).sum())
        self.fp += int((flagged & ~same_class).sum())
        self.fn += int((~flagged & same_class).sum())
        b = len(flagged)
        self.pairs += b * (b - 1)
        self.same += int(same_class.sum())

    def summary(self) -> dict:
        flagged = self.tp + self.fp
        return {
            "detection_precision": self.tp / flagged if flagged else float("nan"),
            "detection_recall": self.tp / (self.tp + self.fn) if self.tp + self.fn else float("nan"),
            "flagged_share": flagged / self.pairs if self.pairs else float("nan"),
            "base_rate": self.same / self.pairs if self.pairs else float("nan"),
        }

    def end_epoch(self) -> dict:
        """The epoch's figures (recorded in ``history``); counts restart."""
        out = self.summary()
        self.history.append(out)
        self.tp = self.fp = self.fn = self.pairs = self.same = 0
        return out


class SupportSetObjective:
    """FNC's objective: two views with gradient, ``support_size`` more views of every image without
    gradient; the support views flag likely false negatives, then ``fnc_nt_xent``.

    Cost: the support views are ``support_size`` extra forward passes per image (no backward), so a
    step costs about ``(2·3 + S) / (2·3)`` times a SimCLR step (a backward pass is ~2 forwards).
    With ``oracle=True`` the flags are the true same-class pairs (labels): the upper bound.
    """

    def __init__(self, views: SimCLRViews, support_size: int = 2, top_k: int | None = 1,
                 threshold: float | None = None, aggregate: str = "max", mode: str = "attraction",
                 temperature: float = 0.5, oracle: bool = False):
        if not (isinstance(support_size, int) and support_size >= 1):
            raise ValueError(f"support_size must be an integer >= 1, got {support_size!r}")
        self.views, self.support_size = views, support_size
        self.top_k, self.threshold, self.aggregate = top_k, threshold, aggregate
        self.mode, self.temperature, self.oracle = mode, temperature, oracle
        self.counts = DetectionCounts()

    def flags(self, model, images: torch.Tensor, z1: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``(B, B)`` flags from the support views of ``images`` against the candidates ``z1``."""
        b, s = len(images), self.support_size
        with torch.no_grad():
            x = self.views(images.repeat(s, 1, 1, 1), gen).contiguous(memory_format=torch.channels_last)
            support = model(x).float().view(s, b, -1).transpose(0, 1)  # (B, S, D)
        return detect_false_negatives(support, z1.detach().float(), self.top_k, self.threshold, self.aggregate)

    def __call__(self, model, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator):
        x = self.views.stacked_pair(images, gen)  # (2B, C, H, W)
        z1, z2 = model(x).chunk(2)
        same = labels[:, None] == labels[None, :]
        same.fill_diagonal_(False)
        flagged = same if self.oracle else self.flags(model, images, z1, gen)
        self.counts.add(flagged, same)
        return fnc_nt_xent(z1, z2, flagged, self.temperature, self.mode)


def annealed_ring(progress: float, lower: float, upper: float) -> tuple[float, float]:
    """The ring at a point of the annealing, ``progress`` in ``[0, 1]``: from all negatives
    ``(0, 1)`` at 0 linearly to ``(lower, upper)`` at 1."""
    a = min(1.0, max(0.0, float(progress)))
    return lower * a, 1.0 - (1.0 - upper) * a


class RingObjective:
    """CNCE's objective: ``ring_nt_xent`` on two views, the ring annealed from all negatives to
    ``(lower, upper)`` over the first ``anneal_steps`` steps (0: the ring from the start)."""

    def __init__(self, views: SimCLRViews, lower: float, upper: float, temperature: float = 0.5,
                 anneal_steps: int = 0):
        from .losses.ring import check_ring

        check_ring(lower, upper)
        if not (isinstance(anneal_steps, int) and anneal_steps >= 0):
            raise ValueError(f"anneal_steps must be an integer >= 0, got {anneal_steps!r}")
        self.views, self.lower, self.upper = views, lower, upper
        self.temperature, self.anneal_steps = temperature, anneal_steps
        self.ring = annealed_ring(0.0 if anneal_steps else 1.0, lower, upper)

    def set_step(self, step: int, total: int) -> None:
        progress = step / self.anneal_steps if self.anneal_steps else 1.0
        self.ring = annealed_ring(progress, self.lower, self.upper)

    def __call__(self, model, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator):
        from .losses import ring_nt_xent

        x = self.views.stacked_pair(images, gen)  # (2B, C, H, W)
        z1, z2 = model(x).chunk(2)
        return ring_nt_xent(z1, z2, self.temperature, *self.ring)
