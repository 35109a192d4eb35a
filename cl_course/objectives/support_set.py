"""FNC's objective (notebook 04): a support set of extra views flags likely false negatives, which
are then eliminated from the denominator or attracted as extra positives (Huynh et al. 2022); and
the label-made flags that isolate detection quality (matched oracles, a precision dose-response)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..diagnostics import DetectionCounts
from ..losses import detect_false_negatives, fnc_nt_xent
from ..losses.fnc import check_detection_rule, check_mode
from .two_view import SimCLRObjective

FLAG_SOURCES = ("detected", "labels", "matched")


def same_class_pairs(labels: torch.Tensor) -> torch.Tensor:
    """``(B, B)`` bool: images ``a != b`` of one class (the false negatives a detector looks for)."""
    same = labels[:, None] == labels[None, :]
    return same.fill_diagonal_(False)


def label_flags(same: torch.Tensor, n_true: torch.Tensor, n_false: torch.Tensor,
                gen: torch.Generator) -> torch.Tensor:
    """``(B, B)`` bool flags made from the labels: for anchor ``a``, ``n_true[a]`` of its same-class
    images and ``n_false[a]`` of its other-class images, drawn uniformly with ``gen`` (as many as
    there are, where fewer). Flags of a known precision and recall: what a detector of that quality
    would hand the loss, without its other biases."""
    b = same.shape[0]
    eye = torch.eye(b, dtype=torch.bool, device=same.device)
    noise = torch.rand(b, b, generator=gen, device=gen.device).to(same.device)

    def first(pool: torch.Tensor, n: torch.Tensor) -> torch.Tensor:
        rank = noise.masked_fill(~pool, 2.0).argsort(1).argsort(1)  # a random order inside the pool first
        return pool & (rank < n.to(rank.device)[:, None])

    return first(same & ~eye, n_true) | first(~same & ~eye, n_false)


def _check_share(name: str, value) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not (0 < value <= 1):
        raise ValueError(f"{name} must be a number in (0, 1], got {value!r}")
    return float(value)


@dataclass(eq=False, kw_only=True)
class SupportSetObjective(SimCLRObjective):
    """Two views with gradient and ``support_size`` more views of every image without gradient;
    the support views flag likely false negatives (:func:`~cl_course.losses.detect_false_negatives`:
    the ``top_k`` best scores of a row that are also above ``threshold``), then
    :func:`~cl_course.losses.fnc_nt_xent` in ``mode``. ``counts`` keeps detection precision, recall
    and flags per anchor against the labels (analysis only).

    ``flag_source``: ``"detected"`` (FNC), ``"labels"`` (every same-class image: the full oracle,
    which is supervision more than detection) or ``"matched"`` (the detector runs, then as many
    same-class images per anchor as it flagged: a perfect detector at the same dose, which isolates
    detection quality). Only the first is self-supervised.

    Cost: ``support_size`` extra forward passes per image (no backward), about
    ``(2·3 + S) / (2·3)`` times a SimCLR step (a backward pass is ~2 forwards); ``"labels"`` skips them.
    """

    support_size: int = 4
    top_k: int | None = 10
    threshold: float | None = 0.6
    aggregate: str = "max"
    mode: str = "attraction"
    flag_source: str = "detected"
    counts: DetectionCounts = field(default_factory=DetectionCounts, init=False, repr=False)
    method = "FNC"
    needs_labels = True  # the detection statistics compare the flags with the labels

    def __post_init__(self):
        super().__post_init__()
        if not (isinstance(self.support_size, int) and not isinstance(self.support_size, bool)
                and self.support_size >= 1):
            raise ValueError(f"support_size must be an integer >= 1, got {self.support_size!r}")
        check_detection_rule(self.top_k, self.threshold, self.aggregate)
        check_mode(self.mode)
        if self.flag_source not in FLAG_SOURCES:
            raise ValueError(f"unknown flag_source {self.flag_source!r}: choose one of {FLAG_SOURCES}")

    def support_embeddings(self, model, images: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``(B, S, D)`` projections of ``support_size`` extra views of each image, without gradient."""
        b, s = len(images), self.support_size
        with torch.no_grad():
            x = self.views(images.repeat(s, 1, 1, 1), gen).contiguous(memory_format=torch.channels_last)
            return model(x).float().view(s, b, -1).transpose(0, 1)

    def flags(self, model, images: torch.Tensor, z1: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``(B, B)`` flags from the support views of ``images`` against the candidates ``z1``."""
        support = self.support_embeddings(model, images, gen)
        return detect_false_negatives(support, z1.detach().float(), self.top_k, self.threshold, self.aggregate)

    def __call__(self, model, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator):
        z1, z2 = self.project(model, images, gen)
        same = same_class_pairs(labels)
        if self.flag_source == "labels":
            flagged = same
        else:
            flagged = self.flags(model, images, z1, gen)
            if self.flag_source == "matched":
                count = flagged.sum(1)
                flagged = label_flags(same, count, torch.zeros_like(count), gen)
        self.counts.add(flagged, same)
        return fnc_nt_xent(z1, z2, flagged, self.temperature, self.mode)

    def end_epoch(self) -> dict:
        """The epoch's detection precision, recall and flags per anchor (they join the history)."""
        summary = self.counts.end_epoch()
        return {k: summary[k] for k in ("detection_precision", "detection_recall", "flags_per_anchor")}


@dataclass(eq=False, kw_only=True)
class ControlledFlagsObjective(SimCLRObjective):
    """FNC's loss in ``mode`` with flags made from the labels at a chosen ``precision`` and ``recall``
    (:func:`label_flags`: ``round(recall · n_same)`` same-class images per anchor, and other-class ones
    so that the share of true flags is ``precision``). A dose-response of detection quality: at the
    base rate the flags are random, at 1 they are a perfect detector of that recall. Analysis only
    (it reads the labels); no support views, so a step costs what a SimCLR step costs."""

    mode: str = "attraction"
    precision: float = 1.0
    recall: float = 0.2
    counts: DetectionCounts = field(default_factory=DetectionCounts, init=False, repr=False)
    method = "FNC, label flags"
    needs_labels = True

    def __post_init__(self):
        super().__post_init__()
        check_mode(self.mode)
        self.precision = _check_share("precision", self.precision)
        self.recall = _check_share("recall", self.recall)

    def __call__(self, model, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator):
        z1, z2 = self.project(model, images, gen)
        same = same_class_pairs(labels)
        n_true = (self.recall * same.sum(1)).round().long()
        n_false = (n_true * (1 - self.precision) / self.precision).round().long()
        flagged = label_flags(same, n_true, n_false, gen)
        self.counts.add(flagged, same)
        return fnc_nt_xent(z1, z2, flagged, self.temperature, self.mode)

    def end_epoch(self) -> dict:
        summary = self.counts.end_epoch()
        return {k: summary[k] for k in ("detection_precision", "detection_recall", "flags_per_anchor")}
