"""False negative cancellation (FNC): find the negatives that are probably same-class, then drop
them (elimination) or pull them in as extra positives (attraction)."""
from __future__ import annotations

import torch
import torch.nn.functional as F

from .similarity import check_temperature, check_views, positive_index, unit_anchors
from .oracle import check_image_mask, nt_xent_without

AGGREGATES = ("max", "mean")
MODES = ("elimination", "attraction")


def check_detection_rule(top_k: int | None, threshold: float | None, aggregate: str,
                         batch: int | None = None) -> None:
    """Raise ``ValueError`` unless the detection rule can flag something: ``aggregate`` known, at
    least one of ``top_k`` (an integer ``>= 1``, at most ``B - 1`` when ``batch`` is given) and
    ``threshold`` (a cosine similarity in ``[-1, 1]``)."""
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}: choose one of {AGGREGATES}")
    if top_k is None and threshold is None:
        raise ValueError("give top_k, threshold or both: with neither no false negative can be flagged")
    if top_k is not None:
        most = batch - 1 if batch is not None else None
        if not (isinstance(top_k, int) and not isinstance(top_k, bool) and top_k >= 1
                and (most is None or top_k <= most)):
            bound = f"[1, B - 1] = [1, {most}]" if most is not None else "[1, B - 1]"
            raise ValueError(f"top_k must be an integer in {bound}, got {top_k!r}")
    if threshold is not None:
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not -1.0 <= threshold <= 1.0:
            raise ValueError(f"threshold is a cosine similarity and must be in [-1, 1], got {threshold!r}")


def support_scores(support: torch.Tensor, candidates: torch.Tensor, aggregate: str = "max") -> torch.Tensor:
    """``(B, B)`` float32: ``score[a, b] = agg_s cos(support[a, s], candidates[b])``, the max or mean
    over image ``a``'s ``S`` support views ``(B, S, D)`` of the cosine to candidate ``b`` ``(B, D)``."""
    if aggregate not in AGGREGATES:
        raise ValueError(f"unknown aggregate {aggregate!r}: choose one of {AGGREGATES}")
    s = F.normalize(support.float(), dim=-1)  # (B, S, D)
    c = F.normalize(candidates.float(), dim=-1)  # (B, D)
    cos = torch.einsum("asd,bd->asb", s, c)  # (B, S, B)
    return cos.amax(dim=1) if aggregate == "max" else cos.mean(dim=1)


def check_mode(mode: str) -> str:
    """Raise ``ValueError`` unless ``mode`` is ``"elimination"`` or ``"attraction"``."""
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}: choose one of {MODES}")
    return mode


def detect_false_negatives(support: torch.Tensor, candidates: torch.Tensor, top_k: int | None = None,
                           threshold: float | None = None, aggregate: str = "max") -> torch.Tensor:
    """Flag likely false negatives from a support set of extra views.

    Reference:
        [1] Huynh, Kornblith, Walter, Maire, Khademi. "Boosting Contrastive Self-Supervised Learning
            with False Negative Cancellation", WACV 2022. https://arxiv.org/abs/2011.11765

    For image ``a`` with support views ``support[a, s]`` and every other image ``b`` with its
    embedding ``candidates[b]``, the score is

        score[a, b] = agg_s cos(support[a, s], candidates[b]),   agg = max or mean over the S views,

    and ``b`` is flagged as a false negative of ``a`` when it is among the ``top_k`` highest scores
    of row ``a`` and/or its score exceeds ``threshold`` (both conditions when both are given).

    Args:
        support: ``(B, S, D)`` embeddings of ``S`` extra views of each image.
        candidates: ``(B, D)`` one embedding per image of the batch.
        top_k: flag the ``k`` best-scoring other images per row, ``1 <= k <= B - 1``.
        threshold: flag scores above this cosine similarity, in ``[-1, 1]``.
        aggregate: ``"max"`` or ``"mean"`` over the support views.

    Returns:
        ``(B, B)`` bool, ``[a, b]`` true when ``b`` is flagged for ``a``; never true on the diagonal.

    Raises:
        ValueError: shapes, neither ``top_k`` nor ``threshold`` given, ``top_k`` or ``threshold``
            out of range, unknown ``aggregate``.
    """
    if not isinstance(support, torch.Tensor) or support.dim() != 3 or support.shape[1] == 0:
        raise ValueError(f"support must have shape (B, S, D) with S >= 1 views, got "
                         f"{tuple(support.shape) if isinstance(support, torch.Tensor) else type(support).__name__}")
    batch, _, dim = support.shape
    if not isinstance(candidates, torch.Tensor) or candidates.shape != (batch, dim):
        raise ValueError(f"candidates must have shape ({batch}, {dim}) to match support, got "
                         f"{tuple(candidates.shape) if isinstance(candidates, torch.Tensor) else type(candidates).__name__}")
    if batch < 2:
        raise ValueError(f"batch size B must be at least 2, got B={batch}")
    check_detection_rule(top_k, threshold, aggregate, batch)
    with torch.no_grad(), torch.autocast(device_type=support.device.type, enabled=False):
        score = support_scores(support, candidates, aggregate)  # (B, B)
        eye = torch.eye(batch, dtype=torch.bool, device=score.device)
        score = score.masked_fill(eye, float("-inf"))  # an image is not its own false negative
        flagged = torch.ones_like(eye)
        if top_k is not None:
            top = torch.zeros_like(eye)
            top.scatter_(1, score.topk(top_k, dim=1).indices, True)
            flagged &= top
        if threshold is not None:
            flagged &= score > float(threshold)
        return flagged & ~eye


def fnc_nt_xent(z1: torch.Tensor, z2: torch.Tensor, false_negatives: torch.Tensor, temperature: float = 0.5,
                mode: str = "attraction") -> torch.Tensor:
    """NT-Xent with false negative cancellation (FNC).

    Reference:
        [1] Huynh, Kornblith, Walter, Maire, Khademi. "Boosting Contrastive Self-Supervised Learning
            with False Negative Cancellation", WACV 2022. https://arxiv.org/abs/2011.11765

    ``false_negatives[a, b]`` flags image ``b`` for image ``a``; it applies to both views of both
    images. With ``F(i)`` the flagged views of anchor ``i`` and ``p_ik = e^{s_ik/t} / sum_{k' != i} e^{s_ik'/t}``:

    * ``"elimination"``: the flagged views leave the denominator,
      ``l_i = -log( e^{s_{i,p(i)}/t} / sum_{k != i, k not in F(i)} e^{s_ik/t} )``;
    * ``"attraction"``: they become extra positives and stay in the denominator,
      ``l_i = -(log p_{i,p(i)} + sum_{f in F(i)} log p_if) / (1 + |F(i)|)``.

    With no flagged pair both modes equal ``nt_xent``.

    Args:
        z1, z2: ``(B, D)`` projections of two views of the same images.
        false_negatives: ``(B, B)`` bool mask over images (its diagonal is ignored).
        temperature: ``t > 0``.
        mode: ``"elimination"`` or ``"attraction"``.

    Raises:
        ValueError: bad shapes, ``B < 2``, ``temperature <= 0``, a mask that is not ``(B, B)`` bool,
            unknown ``mode``.
    """
    batch = check_views(z1, z2)
    t = check_temperature(temperature)
    check_image_mask(false_negatives, batch, "false_negatives")
    check_mode(mode)
    if mode == "elimination":
        return nt_xent_without(z1, z2, false_negatives, t)
    z = unit_anchors(z1, z2)  # (2B, D)
    with torch.autocast(device_type=z.device.type, enabled=False):
        logits = z @ z.T / t  # (2B, 2B)
        n2 = 2 * batch
        self_mask = torch.eye(n2, dtype=torch.bool, device=logits.device)
        target = positive_index(batch, logits.device)
        # -log p_{i,p(i)} = log Z_i - s_{i,p(i)}/t, with Z_i the denominator (all k != i)
        positive_term = F.cross_entropy(logits.masked_fill(self_mask, float("-inf")), target, reduction="none")
        # sum_{f in F(i)} log p_if = sum_f s_if/t - |F(i)| log Z_i. A flagged image brings both its
        # views, so their summed unit vectors (one (B, B) @ (B, D) product) replace the masked matrix.
        flags = (false_negatives & ~torch.eye(batch, dtype=torch.bool, device=false_negatives.device)).to(
            device=z.device, dtype=z.dtype)  # (B, B)
        flagged_views = (flags @ (z[:batch] + z[batch:])).repeat(2, 1)  # (2B, D)
        flagged_sum = (z * flagged_views).sum(1) / t  # (2B,) sum_f s_if/t
        positive = (z * z.roll(batch, 0)).sum(1) / t  # (2B,) s_{i,p(i)}/t
        count = 1.0 + 2.0 * flags.sum(1).repeat(2)  # (2B,) the positive and two views per flagged image
        # l_i = log Z_i - (s_{i,p(i)} + sum_f s_if) / (t (1 + |F(i)|))
        per_anchor = positive_term + positive - (positive + flagged_sum) / count
    return per_anchor.mean()
