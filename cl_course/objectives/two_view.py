"""Methods that need nothing but two views and a loss: SimCLR (01), HCL (02), DCL and the label
oracle (03), and any loss of ``(z1, z2)`` a learner writes (:class:`LossObjective`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch

from ..losses import debiased_nt_xent, hard_negative_nt_xent, nt_xent, oracle_nt_xent
from ..losses.debiased import check_tau_plus
from ..losses.hard_negative import check_beta
from ..losses.similarity import check_temperature
from .base import TwoViewObjective


@dataclass(eq=False, kw_only=True)
class SimCLRObjective(TwoViewObjective):
    """SimCLR: ``nt_xent(z1, z2, temperature)`` (Chen et al. 2020)."""

    temperature: float = 0.5
    method = "SimCLR"

    def __post_init__(self):
        self.temperature = check_temperature(self.temperature)

    def loss(self, z1, z2, labels):
        return nt_xent(z1, z2, self.temperature)


@dataclass(eq=False, kw_only=True)
class DebiasedObjective(SimCLRObjective):
    """DCL: ``debiased_nt_xent(z1, z2, temperature, tau_plus)`` (Chuang et al. 2020)."""

    tau_plus: float = 0.1
    method = "DCL"

    def __post_init__(self):
        super().__post_init__()
        self.tau_plus = check_tau_plus(self.tau_plus)

    def loss(self, z1, z2, labels):
        return debiased_nt_xent(z1, z2, self.temperature, self.tau_plus)


@dataclass(eq=False, kw_only=True)
class HardNegativeObjective(DebiasedObjective):
    """HCL: ``hard_negative_nt_xent(z1, z2, temperature, tau_plus, beta)`` (Robinson et al. 2021)."""

    beta: float = 1.0
    method = "HCL"

    def __post_init__(self):
        super().__post_init__()
        self.beta = check_beta(self.beta)

    def loss(self, z1, z2, labels):
        return hard_negative_nt_xent(z1, z2, self.temperature, self.tau_plus, self.beta)


@dataclass(eq=False, kw_only=True)
class OracleObjective(SimCLRObjective):
    """The label oracle: NT-Xent without the same-class negatives (``oracle_nt_xent``). Uses labels:
    an upper bound for analysis, not a self-supervised method."""

    method = "oracle"
    needs_labels = True

    def loss(self, z1, z2, labels):
        if labels is None:
            raise ValueError("the oracle objective needs the batch's labels")
        return oracle_nt_xent(z1, z2, labels, self.temperature)


@dataclass(eq=False, kw_only=True)
class LossObjective(TwoViewObjective):
    """Any loss of two projections, ``loss_fn(z1, z2, **kwargs)`` — for a learner's own loss in an
    exercise, or a deliberately broken one in a test."""

    loss_fn: Callable[..., torch.Tensor] = None
    kwargs: dict = field(default_factory=dict)
    method = "custom loss"

    def __post_init__(self):
        if not callable(self.loss_fn):
            raise ValueError(f"loss_fn must be a function of (z1, z2, ...), got {self.loss_fn!r}")

    def loss(self, z1, z2, labels):
        return self.loss_fn(z1, z2, **self.kwargs)

    def knobs(self) -> dict:
        return {"method": getattr(self.loss_fn, "__name__", self.method), **self.kwargs}
