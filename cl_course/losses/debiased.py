"""Debiased NT-Xent (DCL): correct the negatives' term for the same-class samples among them."""
from __future__ import annotations

import math

import torch

from ._common import check_temperature, check_views, cosine_logits, negative_mask, positive_index


def check_tau_plus(tau_plus: float) -> float:
    """Raise ``ValueError`` unless ``0 <= tau_plus < 1``."""
    tp = float(tau_plus)
    if not (0.0 <= tp < 1.0):
        raise ValueError(f"tau_plus must be in [0, 1) (the class prior of a negative being a positive), got {tau_plus!r}")
    return tp


def split_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each anchor's positive logit ``(2B,)`` and its ``N = 2B - 2`` negative logits ``(2B, N)``,
    ``cos/t`` in float32, negatives in column order of ``[z1; z2]``."""
    batch = z1.shape[0]
    logits = cosine_logits(z1, z2, temperature)  # (2B, 2B)
    rows = torch.arange(2 * batch, device=logits.device)
    pos = logits[rows, positive_index(batch, logits.device)]  # (2B,)
    neg = logits[negative_mask(batch, logits.device)].view(2 * batch, 2 * batch - 2)  # (2B, N)
    return pos, neg


def debiased_loss_from_logits(pos: torch.Tensor, neg: torch.Tensor, temperature: float, tau_plus: float,
                              log_weights: torch.Tensor | None = None) -> torch.Tensor:
    """The debiased estimator, in log space, from positive logits ``(M,)`` and negative logits ``(M, N)``.

    ``Ng = max((sum_k w_k e^{neg_k} - tau_plus N e^{pos}) / (1 - tau_plus), N e^{-1/t})`` and
    ``loss = mean(-log(e^{pos} / (e^{pos} + Ng)))``, where ``w_k = e^{log_weights}`` (1 if None).
    Shared by DCL, HCL (importance weights) and WCL (difficulty weights).
    """
    n = neg.shape[1]
    log_n = math.log(n)
    weighted = neg if log_weights is None else neg + log_weights
    log_sum = torch.logsumexp(weighted, dim=1)  # log sum_k w_k e^{neg_k}
    floor = torch.full_like(log_sum, log_n - 1.0 / temperature)  # log(N e^{-1/t}), the clamp
    if tau_plus > 0:
        # log(e^{a} - e^{b}) = a + log(1 - e^{b - a}); where b >= a the clamp takes over anyway.
        gap = (math.log(tau_plus * n) + pos) - log_sum
        inside = gap < 0
        safe_gap = torch.where(inside, gap, torch.full_like(gap, -1.0))
        log_ng = log_sum + torch.log(-torch.expm1(safe_gap)) - math.log(1 - tau_plus)
        log_ng = torch.where(inside, log_ng, floor)
    else:
        log_ng = log_sum
    log_ng = torch.maximum(log_ng, floor)
    return (torch.logaddexp(pos, log_ng) - pos).mean()


def debiased_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, tau_plus: float = 0.1) -> torch.Tensor:
    """Debiased contrastive loss (DCL).

    Reference:
        [1] Chuang, Robinson, Lin, Torralba, Jegelka. "Debiased Contrastive Learning",
            NeurIPS 2020. https://arxiv.org/abs/2007.00224

    In-batch negatives are drawn from the data distribution ``p = tau⁺ p⁺ + (1 - tau⁺) p⁻``: a
    share ``tau⁺`` of them (``1/C`` for ``C`` balanced classes) has the anchor's class. Treating
    the positive as a sample of ``p⁺``, the sum over true negatives is estimated by

        Ng_i = max( (sum_{k in neg(i)} e^{s_ik/t} - tau⁺ N e^{s_{i,p(i)}/t}) / (1 - tau⁺),  N e^{-1/t} ),
        l_i  = -log( e^{s_{i,p(i)}/t} / (e^{s_{i,p(i)}/t} + Ng_i) ),

    with ``N = 2B - 2`` negatives per anchor; the clamp at ``N e^{-1/t}`` (its theoretical minimum)
    is the one in the authors' code. Computed in log space. ``tau_plus = 0`` gives ``nt_xent``.

    Args:
        z1: ``(B, D)`` projections of the first views.
        z2: ``(B, D)`` projections of the second views, same order.
        temperature: ``t > 0``.
        tau_plus: class prior ``tau⁺`` in ``[0, 1)``.

    Returns:
        Scalar: the mean over the ``2B`` anchors.

    Raises:
        ValueError: bad shapes, ``B < 2``, ``temperature <= 0`` or ``tau_plus`` outside ``[0, 1)``.

    Examples:
        >>> loss = debiased_nt_xent(torch.randn(8, 16), torch.randn(8, 16), temperature=0.5, tau_plus=0.1)
    """
    check_views(z1, z2)
    t = check_temperature(temperature)
    tp = check_tau_plus(tau_plus)
    pos, neg = split_logits(z1, z2, t)
    return debiased_loss_from_logits(pos, neg, t, tp)
