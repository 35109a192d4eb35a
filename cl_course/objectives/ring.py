"""CNCE's objective (notebook 05): NT-Xent over a ring of similarity ranks, optionally annealed
from all negatives to the ring (Wu et al. 2021)."""
from __future__ import annotations

from dataclasses import dataclass, field

from ..losses import ring_nt_xent
from ..losses.ring import check_ring, check_ring_keeps
from .two_view import SimCLRObjective


def annealed_ring(progress: float, lower: float, upper: float) -> tuple[float, float]:
    """The ring at a point of the annealing, ``progress`` in ``[0, 1]``: from all negatives
    ``(0, 1)`` at 0 linearly to ``(lower, upper)`` at 1 (and past 1)."""
    a = min(1.0, max(0.0, float(progress)))
    return lower * a, 1.0 - (1.0 - upper) * a


@dataclass(eq=False, kw_only=True)
class RingObjective(SimCLRObjective):
    """:func:`~cl_course.losses.ring_nt_xent` on two views, the ring annealed from all negatives to
    ``(lower, upper)`` over the first ``anneal_steps`` steps (0: the ring from the start);
    ``resample`` scales the ring to ``N`` negatives as CNCE draws them. With
    ``batch_size``, a ring that would keep no negative at that batch size is refused when built."""

    lower: float = 0.0
    upper: float = 1.0
    anneal_steps: int = 0
    resample: bool = False
    batch_size: int | None = None
    ring: tuple = field(init=False, repr=False)
    method = "ring"

    def __post_init__(self):
        super().__post_init__()
        self.lower, self.upper = check_ring(self.lower, self.upper)
        if not (isinstance(self.anneal_steps, int) and not isinstance(self.anneal_steps, bool)
                and self.anneal_steps >= 0):
            raise ValueError(f"anneal_steps must be an integer >= 0, got {self.anneal_steps!r}")
        if not isinstance(self.resample, bool):
            raise ValueError(f"resample must be True or False, got {self.resample!r}")
        if self.batch_size is not None:
            check_ring_keeps(self.lower, self.upper, self.batch_size)
        self.ring = annealed_ring(0.0 if self.anneal_steps else 1.0, self.lower, self.upper)

    def set_step(self, step: int, total: int) -> None:
        progress = step / self.anneal_steps if self.anneal_steps else 1.0
        self.ring = annealed_ring(progress, self.lower, self.upper)

    def loss(self, z1, z2, labels):
        return ring_nt_xent(z1, z2, self.temperature, *self.ring, resample=self.resample)
