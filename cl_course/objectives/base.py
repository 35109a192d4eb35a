"""What an objective is: how one batch of images becomes one loss.

An objective is called as ``objective(model, images, labels, gen) -> loss``: ``images`` is a uint8
batch on the training device, ``labels`` its labels (used only by oracle variants and by
detection statistics, never by a self-supervised method), ``gen`` a generator seeded for this
step, and the result a scalar tensor. :func:`cl_course.train.fit` also calls, when an objective
has them,

* ``set_step(step, total)`` before every step (schedules, e.g. an annealed ring);
* ``end_epoch() -> dict`` after every epoch (figures that join the epoch's record, e.g. detection
  precision).

Under several processes (:mod:`cl_course.distributed`) the ``model`` an objective is given encodes
only this process's share and returns the global batch's outputs, so every loss sees the global
batch's negatives. An objective keeps that by calling only the ``model`` it is given (or its
submodules, e.g. ``model.biased``) on whole global batches — ``images`` and any stack of views of
them (two views, support views, extra negatives) — and computing on what it returns.

A method's knobs are the fields of its objective (a dataclass), checked when the objective is
built, with the losses' own ``ValueError`` messages; :meth:`TwoViewObjective.knobs` gives them for
a notebook's JSON. The views are a field too, but not a knob.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Protocol, runtime_checkable

import torch
from torch import nn

from ..augment import SimCLRViews


@runtime_checkable
class Objective(Protocol):
    def __call__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None,
                 gen: torch.Generator) -> torch.Tensor: ...


@dataclass(eq=False)
class TwoViewObjective:
    """Two random views of every image through the model in one forward pass (BatchNorm sees both
    views together), then :meth:`loss` of the two projections. Subclasses define ``loss`` and
    their knobs as fields."""

    views: SimCLRViews = field(repr=False)
    method = "two views"   # a class attribute: the method's name in tables and JSON
    needs_labels = False   # oracles only: the loss reads the labels

    def __call__(self, model: nn.Module, images: torch.Tensor, labels: torch.Tensor | None,
                 gen: torch.Generator) -> torch.Tensor:
        z1, z2 = self.project(model, images, gen)
        return self.loss(z1, z2, labels)

    def project(self, model: nn.Module, images: torch.Tensor, gen: torch.Generator):
        """``(z1, z2)``, each ``(B, D)``: the projections of two views of ``images``."""
        x = self.views.stacked_pair(images, gen)  # (2B, C, H, W)
        return model(x).chunk(2)

    def loss(self, z1: torch.Tensor, z2: torch.Tensor, labels: torch.Tensor | None) -> torch.Tensor:
        raise NotImplementedError

    def knobs(self) -> dict:
        """The method's name and knobs (every init field but the views), for the results JSON."""
        return {"method": self.method,
                **{f.name: getattr(self, f.name) for f in fields(self) if f.init and f.name != "views"}}
