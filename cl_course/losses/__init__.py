"""The course's contrastive losses, one module per paper; all share one convention (docs/architecture.md).

``z1``, ``z2`` are ``(B, D)`` projections of two views of the same ``B`` images; rows are
L2-normalised inside each function; the ``2B`` anchors are the rows of ``[z1; z2]``; row ``i``
and row ``(i + B) mod 2B`` are positives; each loss is the mean over the ``2B`` anchors.

Taught in: ``nt_xent`` — notebook 01; ``hard_negative_nt_xent`` — 02; ``debiased_nt_xent``, ``oracle_nt_xent`` — 03;
``detect_false_negatives``, ``fnc_nt_xent`` — 04; ``ring_nt_xent`` — 05; ``nonsemantic_nt_xent`` — 06;
``biased_triplet_loss``, ``relative_difficulty_weights``, ``distance_difficulty_weights``,
``weighted_debiased_nt_xent`` — 07.
"""
from .debiased import clamped_anchors, debiased_negative_sum, debiased_nt_xent, split_logits
from .fnc import detect_false_negatives, fnc_nt_xent
from .hard_negative import hard_negative_nt_xent, importance_weights
from .nonsemantic import nonsemantic_logits, nonsemantic_nt_xent
from .nt_xent import nt_xent
from .oracle import nt_xent_without, oracle_nt_xent
from .ring import ring_mask, ring_nt_xent, similarity_ranks
from .similarity import cosine_logits, negative_mask, positive_index
from .wcl import (biased_triplet_loss, distance_difficulty_weights, relative_difficulty_weights, unit_squared_distances,
                  weighted_debiased_nt_xent)

__all__ = ["nt_xent", "debiased_nt_xent", "hard_negative_nt_xent", "importance_weights", "nt_xent_without",
           "oracle_nt_xent", "detect_false_negatives", "fnc_nt_xent", "ring_nt_xent", "nonsemantic_nt_xent",
           "biased_triplet_loss", "relative_difficulty_weights", "distance_difficulty_weights",
           "weighted_debiased_nt_xent",
           # helpers for analysis and teaching: the similarity matrix, masks, DCL's estimate, the ring
           "cosine_logits", "negative_mask", "positive_index", "split_logits", "debiased_negative_sum",
           "clamped_anchors", "ring_mask", "similarity_ranks", "nonsemantic_logits", "unit_squared_distances"]
