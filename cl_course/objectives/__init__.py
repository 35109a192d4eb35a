"""Objectives: how a batch of images becomes a loss, one module per method that needs more than
two views and a loss (see :mod:`.base` for the protocol).

    two_view      SimCLR, DCL, HCL, the label oracle, any loss of (z1, z2)     (notebooks 01-03)
    support_set   FNC: support views flag false negatives; label-made flags    (04)
    ring          CNCE: a ring of similarity ranks, annealed or not             (05)
    nonsemantic   Ge et al.: patch-shuffled / texture negatives                 (06)
    wcl           WCL: a biased encoder weights the debiased one's negatives    (07)

Every objective checks its knobs when built (a ``ValueError`` naming the knob) and lists them with
``knobs()`` for the results JSON.
"""
from .base import Objective, TwoViewObjective
from .nonsemantic import NonSemanticObjective
from .ring import RingObjective, annealed_ring
from .support_set import ControlledFlagsObjective, SupportSetObjective, label_flags
from .two_view import (DebiasedObjective, HardNegativeObjective, LossObjective, OracleObjective,
                       SimCLRObjective)
from .wcl import WCLObjective

__all__ = ["Objective", "TwoViewObjective", "SimCLRObjective", "DebiasedObjective", "HardNegativeObjective",
           "OracleObjective", "LossObjective", "SupportSetObjective", "ControlledFlagsObjective", "label_flags", "RingObjective", "annealed_ring",
           "NonSemanticObjective", "WCLObjective"]
