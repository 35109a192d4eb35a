"""Checkers for the notebooks' exercises, one module per notebook: call ``check_<name>(your_function)``.

A checker prints ``correct`` and returns True when the function matches the package on fixed
cases; returns False (saying so) while the function still raises ``NotImplementedError``; and
raises ``AssertionError`` with the failing case's values when the answer is wrong. Solutions for
instructors live apart from the notebooks.
"""
from .debiasing import check_class_prior, check_debiased_negatives
from .diminished_semantics import check_copy_share, check_nonsemantic_loss, check_patchify
from .false_negatives import check_precision_recall, check_support_scores
from .hard_negatives import check_effective_negatives, check_importance_weights
from .ring_sampling import check_ring_mask, check_ring_schedule
from .simclr_basics import check_alignment, check_same_class_share, check_uniformity
from .wcl import (check_biased_triplet_loss, check_margin_triplet, check_relative_difficulty_weights,
                  check_reversed_weights)

__all__ = ["check_same_class_share", "check_alignment", "check_uniformity", "check_importance_weights",
           "check_effective_negatives", "check_class_prior", "check_debiased_negatives", "check_precision_recall",
           "check_support_scores", "check_ring_mask", "check_ring_schedule", "check_nonsemantic_loss",
           "check_patchify", "check_relative_difficulty_weights", "check_biased_triplet_loss",
           "check_copy_share", "check_reversed_weights", "check_margin_triplet"]
