"""Debiased NT-Xent (DCL): correct the negatives' term for the same-class samples among them."""
from __future__ import annotations

import math

import torch

from .similarity import check_temperature, check_views, cosine_logits, negative_mask, positive_index, positive_logits


def check_tau_plus(tau_plus: float) -> float:
    """Raise ``ValueError`` unless ``0 <= tau_plus < 1``."""
    tp = float(tau_plus)
    if not (0.0 <= tp < 1.0):
        raise ValueError(f"tau_plus must be in [0, 1) (the class prior of a negative being a positive), got {tau_plus!r}")
    return tp


def split_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Each anchor's positive logit ``(2B,)`` and its ``N = 2B - 2`` negative logits ``(2B, N)``,
    ``cos/t`` in float32, negatives in column order of ``[z1; z2]`` (for analysis and plots)."""
    batch = z1.shape[0]
    logits = cosine_logits(z1, z2, temperature)  # (2B, 2B)
    rows = torch.arange(2 * batch, device=logits.device)
    pos = logits[rows, positive_index(batch, logits.device)]  # (2B,)
    neg = logits[negative_mask(batch, logits.device)].view(2 * batch, 2 * batch - 2)  # (2B, N)
    return pos, neg


def masked_logits(z1: torch.Tensor, z2: torch.Tensor, temperature: float) -> tuple[torch.Tensor, torch.Tensor]:
    """The positive logits ``(2B,)`` and the full ``(2B, 2B)`` logits with each anchor's self and
    positive set to ``-inf``, so that row reductions run over its ``2B - 2`` negatives only. (The
    losses use this form: extracting the negatives into a ``(2B, N)`` matrix costs a gather and a
    scatter in the backward pass, doubling the loss's time.)"""
    batch = z1.shape[0]
    logits = cosine_logits(z1, z2, temperature)  # (2B, 2B)
    neg = logits.masked_fill(~negative_mask(batch, logits.device), float("-inf"))
    return positive_logits(z1, z2, temperature), neg


def debiased_loss(pos: torch.Tensor, log_neg_sum: torch.Tensor, n: int, temperature: float,
                  tau_plus: float) -> torch.Tensor:
    """The debiased estimator in log space, from the positive logits ``(M,)`` and the log of each
    anchor's (possibly weighted) sum over its ``n`` negatives, ``log sum_k w_k e^{s_k/t}`` ``(M,)``:

        Ng = max((sum_k w_k e^{s_k/t} - tau_plus n e^{pos}) / (1 - tau_plus), n e^{-1/t}),
        loss = mean(-log(e^{pos} / (e^{pos} + Ng))).

    Shared by DCL (w = 1), HCL (importance weights) and WCL (difficulty weights).
    """
    floor = torch.full_like(log_neg_sum, math.log(n) - 1.0 / temperature)  # log(n e^{-1/t}), the clamp
    if tau_plus > 0:
        # log(e^a - e^b) = a + log(1 - e^(b - a)); where b >= a the clamp takes over anyway.
        gap = (math.log(tau_plus * n) + pos) - log_neg_sum
        inside = gap < 0
        safe_gap = torch.where(inside, gap, torch.full_like(gap, -1.0))
        log_ng = log_neg_sum + torch.log(-torch.expm1(safe_gap)) - math.log(1 - tau_plus)
        log_ng = torch.where(inside, log_ng, floor)
    else:
        log_ng = log_neg_sum
    log_ng = torch.maximum(log_ng, floor)
    return (torch.logaddexp(pos, log_ng) - pos).mean()


def debiased_negative_sum(pos: torch.Tensor, neg: torch.Tensor, temperature: float, tau_plus: float) -> torch.Tensor:
    """DCL's estimate of each anchor's sum over its true negatives, ``N·g`` ``(M,)``, from positive
    logits ``pos`` ``(M,)`` and negative logits ``neg`` ``(M, N)`` (both ``cos/t``):

        N·g = max( (sum_k e^{neg_k} - tau⁺ N e^{pos}) / (1 - tau⁺),  N e^{-1/t} ).

    The direct (not log-space) form, for analysis and teaching; the losses use :func:`debiased_loss`.
    """
    t, tp = check_temperature(temperature), check_tau_plus(tau_plus)
    n = neg.shape[1]
    estimate = (neg.exp().sum(1) - tp * n * pos.exp()) / (1 - tp)
    return torch.clamp(estimate, min=n * math.exp(-1 / t))


def clamped_anchors(pos: torch.Tensor, neg: torch.Tensor, temperature: float, tau_plus: float) -> torch.Tensor:
    """``(M,)`` bool: the anchors whose debiased estimate sits at the clamp ``N e^{-1/t}``. Their
    negatives get no gradient: such an anchor trains on alignment alone."""
    t, tp = check_temperature(temperature), check_tau_plus(tau_plus)
    n = neg.shape[1]
    return (neg.exp().sum(1) - tp * n * pos.exp()) / (1 - tp) <= n * math.exp(-1 / t)


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
    pos, neg = masked_logits(z1, z2, t)  # (2B,), (2B, 2B) with -inf off the negatives
    return debiased_loss(pos, torch.logsumexp(neg, dim=1), 2 * z1.shape[0] - 2, t, tp)
