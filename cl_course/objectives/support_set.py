"""FNC's objective (notebook 04): a support set of extra views flags likely false negatives, which
are then eliminated from the denominator or attracted as extra positives (Huynh et al. 2022)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..diagnostics import DetectionCounts
from ..losses import detect_false_negatives, fnc_nt_xent
from ..losses.fnc import check_detection_rule, check_mode
from .two_view import SimCLRObjective


@dataclass(eq=False, kw_only=True)
class SupportSetObjective(SimCLRObjective):
    """Two views with gradient and ``support_size`` more views of every image without gradient;
    the support views flag likely false negatives (:func:`~cl_course.losses.detect_false_negatives`),
    then :func:`~cl_course.losses.fnc_nt_xent` in ``mode``. ``counts`` keeps detection precision
    and recall against the labels (analysis only; the labels never reach the loss unless
    ``oracle=True``, whose flags are the true same-class pairs: the upper bound).

    Cost: ``support_size`` extra forward passes per image (no backward), about
    ``(2·3 + S) / (2·3)`` times a SimCLR step (a backward pass is ~2 forwards).
    """

    support_size: int = 2
    top_k: int | None = 1
    threshold: float | None = None
    aggregate: str = "max"
    mode: str = "attraction"
    oracle: bool = False
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
        if not isinstance(self.oracle, bool):
            raise ValueError(f"oracle must be True or False, got {self.oracle!r}")

    def flags(self, model, images: torch.Tensor, z1: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
        """``(B, B)`` flags from the support views of ``images`` against the candidates ``z1``."""
        b, s = len(images), self.support_size
        with torch.no_grad():
            x = self.views(images.repeat(s, 1, 1, 1), gen).contiguous(memory_format=torch.channels_last)
            support = model(x).float().view(s, b, -1).transpose(0, 1)  # (B, S, D)
        return detect_false_negatives(support, z1.detach().float(), self.top_k, self.threshold, self.aggregate)

    def __call__(self, model, images: torch.Tensor, labels: torch.Tensor, gen: torch.Generator):
        z1, z2 = self.project(model, images, gen)
        same = labels[:, None] == labels[None, :]
        same.fill_diagonal_(False)
        flagged = same if self.oracle else self.flags(model, images, z1, gen)
        self.counts.add(flagged, same)
        return fnc_nt_xent(z1, z2, flagged, self.temperature, self.mode)

    def end_epoch(self) -> dict:
        """The epoch's detection precision and recall (they join the training history)."""
        summary = self.counts.end_epoch()
        return {k: summary[k] for k in ("detection_precision", "detection_recall")}
