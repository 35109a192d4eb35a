"""Hard-negative NT-Xent (HCL): importance-weight the negatives towards the most similar ones."""
from __future__ import annotations

import math

import torch

from .similarity import check_temperature, check_views, cosine_logits, negative_mask, positive_logits
from .debiased import check_tau_plus, debiased_loss, masked_logits, split_logits


def check_beta(beta: float) -> float:
    """Raise ``ValueError`` unless ``beta >= 0`` (finite)."""
    b = float(beta)
    if not (math.isfinite(b) and b >= 0):
        raise ValueError(f"beta must be a finite number >= 0 (the hardness concentration), got {beta!r}")
    return b


class _TiltedLogSumExp(torch.autograd.Function):
    """``log sum_k softmax(β x)_k e^{x_k}`` per row over the entries where ``mask`` is true, i.e.
    ``logsumexp((1+β)x) - logsumexp(βx)``, fused: the mask is applied on the function's own copy
    and the backward is analytic, ``∂/∂x_k = (1+β) p_k - β q_k`` with ``p = softmax((1+β)x)`` and
    ``q = softmax(βx)`` over the masked row (zero off the mask)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
        d = x.masked_fill(~mask, float("-inf"))  # our own copy: the in-place ops below are safe
        m = d.amax(dim=1, keepdim=True)  # finite: every anchor has >= 2 negatives
        d.sub_(m)
        eb = d.mul(beta).exp_()  # e^{β d}, 0 off the mask
        e1b = d.exp_().mul_(eb)  # e^{(1+β) d}, reusing d's memory
        sb, s1b = eb.sum(1, keepdim=True), e1b.sum(1, keepdim=True)
        ctx.save_for_backward(eb, e1b, sb, s1b)
        ctx.beta = beta
        return (s1b.log() - sb.log() + m).squeeze(1)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        eb, e1b, sb, s1b = ctx.saved_tensors
        g = grad.unsqueeze(1)
        return e1b.mul((1 + ctx.beta) * g / s1b).sub_(eb.mul(ctx.beta * g / sb)), None, None


def hard_negative_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5,
                          tau_plus: float = 0.1, beta: float = 1.0) -> torch.Tensor:
    """Contrastive loss with hard negative sampling (HCL).

    Reference:
        [1] Robinson, Chuang, Sra, Jegelka. "Contrastive Learning with Hard Negative Samples",
            ICLR 2021. https://arxiv.org/abs/2010.04592

    Negatives are drawn from the tilted distribution ``q_β(x⁻) ∝ e^{β f(x)ᵀf(x⁻)} p(x⁻)``, which
    favours negatives similar to the anchor; the in-batch estimate uses self-normalised importance
    weights over each anchor's ``N = 2B - 2`` negatives,

        w_ik = N e^{β s_ik/t} / sum_{k'} e^{β s_ik'/t}          (mean weight 1),

    inside DCL's debiased estimator:

        Ng_i = max( (sum_k w_ik e^{s_ik/t} - tau⁺ N e^{s_{i,p(i)}/t}) / (1 - tau⁺),  N e^{-1/t} ),
        l_i  = -log( e^{s_{i,p(i)}/t} / (e^{s_{i,p(i)}/t} + Ng_i) ).

    As in the authors' code the weights are not detached (gradients flow through them) and the
    clamp at ``N e^{-1/t}`` is kept. Computed in log space. ``beta = 0`` gives
    ``debiased_nt_xent``; ``beta = 0, tau_plus = 0`` gives ``nt_xent``.

    Args:
        z1: ``(B, D)`` projections of the first views.
        z2: ``(B, D)`` projections of the second views, same order.
        temperature: ``t > 0``.
        tau_plus: class prior ``tau⁺`` in ``[0, 1)``.
        beta: concentration ``β >= 0`` of the tilted distribution.

    Returns:
        Scalar: the mean over the ``2B`` anchors.

    Raises:
        ValueError: bad shapes, ``B < 2``, ``temperature <= 0``, ``tau_plus`` outside ``[0, 1)``,
            or ``beta < 0``.

    Examples:
        >>> loss = hard_negative_nt_xent(torch.randn(8, 16), torch.randn(8, 16), tau_plus=0.1, beta=1.0)
    """
    check_views(z1, z2)
    t = check_temperature(temperature)
    tp = check_tau_plus(tau_plus)
    b = check_beta(beta)
    batch = z1.shape[0]
    n = 2 * batch - 2
    if b == 0:
        pos, neg = masked_logits(z1, z2, t)  # (2B,), (2B, 2B) with -inf off the negatives
        return debiased_loss(pos, torch.logsumexp(neg, dim=1), n, t, tp)
    logits = cosine_logits(z1, z2, t)  # (2B, 2B)
    # log sum_k w_k e^{s_k/t} = log N + logsumexp((1+β) s/t) - logsumexp(β s/t): the weights'
    # normaliser stays in the graph, so gradients flow through the weights as in the paper's code.
    log_sum = math.log(n) + _TiltedLogSumExp.apply(logits, negative_mask(batch, logits.device), b)
    return debiased_loss(positive_logits(z1, z2, t), log_sum, n, t, tp)


def importance_weights(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, beta: float = 1.0) -> torch.Tensor:
    """HCL's weights ``w_ik`` ``(2B, N)`` of each anchor's negatives (mean 1 per row), for diagnostics."""
    check_views(z1, z2)
    t = check_temperature(temperature)
    b = check_beta(beta)
    _, neg = split_logits(z1, z2, t)
    return torch.softmax(b * neg, dim=1) * neg.shape[1]
