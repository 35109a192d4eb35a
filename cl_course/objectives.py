"""Objectives beyond a plain pair of views: FNC's support set (extra views of each anchor, no
gradient) with detection statistics against the labels (for analysis only), CNCE's annealed ring,
Ge et al.'s non-semantic negatives, and WCL's pair of encoders."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .augment import SimCLRViews
from .losses import (biased_triplet_loss, detect_false_negatives, fnc_nt_xent, nonsemantic_nt_xent,
                     relative_difficulty_weights, ring_nt_xent, weighted_debiased_nt_xent)
from .losses.ring import check_ring
from .negatives import check_kind, check_patch_sizes, make_negatives


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
        x = self.views.stacked_pair(images, gen)  # (2B, C, H, W)
        z1, z2 = model(x).chunk(2)
        return ring_nt_xent(z1, z2, self.temperature, *self.ring)


class NonSemanticObjective:
    """Ge et al.'s objective: two views, plus ``num_negatives`` non-semantic negatives made from the
    first view of every image (patch-shuffled or texture tiles, :mod:`cl_course.negatives`), all in
    one forward pass; then ``nonsemantic_nt_xent``. A patch size is drawn anew every step.

    Cost: ``num_negatives`` extra images per image through forward and backward, so a step costs
    about ``(2 + K) / 2`` times a SimCLR step.
    """

    def __init__(self, views: SimCLRViews, kind: str, patch_sizes, alpha: float = 2.0, temperature: float = 0.5,
                 num_negatives: int = 1):
        check_kind(kind)
        self.patch_sizes = check_patch_sizes(patch_sizes, views.size)
        if not (isinstance(num_negatives, int) and num_negatives >= 1):
            raise ValueError(f"num_negatives must be an integer >= 1, got {num_negatives!r}")
        self.views, self.kind, self.alpha = views, kind, alpha
        self.temperature, self.num_negatives = temperature, num_negatives

    def __call__(self, model, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator):
        b = len(images)
        x = self.views.stacked_pair(images, gen)  # (2B, C, H, W)
        negs = [make_negatives(self.kind, x[:b], self.patch_sizes, gen) for _ in range(self.num_negatives)]
        z = model(torch.cat([x, *negs]).contiguous(memory_format=torch.channels_last))
        z1, z2, zn = z[:b], z[b:2 * b], z[2 * b:]
        zn = zn.view(self.num_negatives, b, -1).transpose(0, 1)  # (B, K, D)
        return nonsemantic_nt_xent(z1, z2, zn, self.temperature, self.alpha)


class EncoderPair(nn.Module):
    """WCL's two encoders: ``debiased`` (the one evaluated, ``.encoder``) and ``biased``, each an
    encoder + head, trained side by side; ``lr_scales`` gives the biased one its own learning rate
    (``biased_lr / lr``) through :func:`cl_course.train.make_optimizer`."""

    def __init__(self, debiased: nn.Module, biased: nn.Module, biased_lr_scale: float = 1.0):
        super().__init__()
        if not biased_lr_scale > 0:
            raise ValueError(f"the biased encoder's learning rate must be > 0, got scale {biased_lr_scale!r}")
        self.debiased, self.biased = debiased, biased
        self.lr_scales = {"biased": float(biased_lr_scale)}

    @property
    def encoder(self) -> nn.Module:
        return self.debiased.encoder

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.debiased(x)


class WCLObjective:
    """WCL: the biased encoder learns from ``biased_triplet_loss``; the debiased one from
    ``weighted_debiased_nt_xent`` with ``relative_difficulty_weights`` of the two (detached), on
    the same two views. The model is an :class:`EncoderPair`. ``last_weights`` keeps the latest
    batch's weights for analysis."""

    def __init__(self, views: SimCLRViews, temperature: float = 0.5, tau_plus: float = 0.1):
        self.views, self.temperature, self.tau_plus = views, temperature, tau_plus
        self.last_weights = None

    def __call__(self, model: EncoderPair, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator):
        x = self.views.stacked_pair(images, gen)  # (2B, C, H, W)
        d1, d2 = model.debiased(x).chunk(2)
        b1, b2 = model.biased(x).chunk(2)
        weights = relative_difficulty_weights(d1, d2, b1, b2, self.temperature)  # (2B, 2B), no gradient
        self.last_weights = weights
        return (weighted_debiased_nt_xent(d1, d2, weights, self.temperature, self.tau_plus)
                + biased_triplet_loss(b1, b2, self.tau_plus))
