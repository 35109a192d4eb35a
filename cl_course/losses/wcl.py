"""WCL (difficulty-based sampling): a biased encoder's triplet loss, relative-difficulty weights,
and DCL with weighted negatives for the debiased encoder."""
from __future__ import annotations

import torch

from .similarity import check_temperature, check_views, negative_mask, positive_index, unit_anchors
from .debiased import check_tau_plus, debiased_loss, masked_logits


def _check_pair(x1: torch.Tensor, x2: torch.Tensor, name1: str, name2: str) -> int:
    """``check_views`` with the error naming the caller's arguments (``b1``/``b2``, ``d1``/``d2``)."""
    try:
        return check_views(x1, x2)
    except ValueError as err:
        raise ValueError(str(err).replace("z1", name1).replace("z2", name2)) from None


def biased_triplet_loss(b1: torch.Tensor, b2: torch.Tensor, tau_plus: float = 0.1) -> torch.Tensor:
    """The self-supervised triplet loss that trains WCL's biased encoder.

    Reference:
        [1] Jang, Wang. "Difficulty-Based Sampling for Debiased Contrastive Representation
            Learning", CVPR 2023.

    With ``d(u, v) = ||u - v||^2`` between L2-normalised projections (in ``[0, 4]``), ``N = 2B - 2``
    negatives per anchor and no margin (as in the authors' code):

        l_i = d(b_i, b_{p(i)}) - ( sum_{k in neg(i)} d(b_i, b_k) - tau⁺ N d(b_i, b_{p(i)}) ) / (1 - tau⁺).

    With no margin the loss never saturates: negatives are pushed apart along whatever separates
    them most cheaply, which amplifies a shortcut.

    Args:
        b1, b2: ``(B, D)`` projections of the biased encoder on two views of the same images.
        tau_plus: class prior ``tau⁺`` in ``[0, 1)``.

    Returns:
        Scalar: the mean over the ``2B`` anchors.

    Raises:
        ValueError: bad shapes, ``B < 2``, ``tau_plus`` outside ``[0, 1)``.

    Examples:
        >>> loss = biased_triplet_loss(torch.randn(8, 16), torch.randn(8, 16), tau_plus=0.1)
    """
    batch = _check_pair(b1, b2, "b1", "b2")
    tp = check_tau_plus(tau_plus)
    n = 2 * batch - 2
    dist, d_pos = unit_squared_distances(b1, b2)
    with torch.autocast(device_type=dist.device.type, enabled=False):
        d_neg = (dist * negative_mask(batch, dist.device)).sum(1)  # (2B,)
        return (d_pos - (d_neg - tp * n * d_pos) / (1 - tp)).mean()


def unit_squared_distances(b1: torch.Tensor, b2: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """In float32, the ``(2B, 2B)`` squared distances ``||u - v||^2 = 2 - 2 cos(u, v)`` (in ``[0, 4]``)
    between the L2-normalised rows of ``[b1; b2]``, and each anchor's distance to its positive, ``(2B,)``."""
    b = unit_anchors(b1, b2)  # (2B, D)
    with torch.autocast(device_type=b.device.type, enabled=False):
        dist = (2 - 2 * b @ b.T).clamp_min(0)
        return dist, dist.gather(1, positive_index(b1.shape[0], b.device)[:, None]).squeeze(1)


def _log_normalised_scores(u1: torch.Tensor, u2: torch.Tensor, t: float, neg: torch.Tensor) -> torch.Tensor:
    """``log s~_ik`` with ``s_ik = e^{cos/t}`` L2-normalised over each anchor's negatives; ``-inf`` elsewhere."""
    u = unit_anchors(u1, u2)
    logits = (u @ u.T / t).masked_fill(~neg, float("-inf"))  # (2B, 2B)
    return logits - 0.5 * torch.logsumexp(2 * logits, dim=1, keepdim=True)


def relative_difficulty_weights(d1: torch.Tensor, d2: torch.Tensor, b1: torch.Tensor, b2: torch.Tensor,
                                temperature: float = 0.5) -> torch.Tensor:
    """WCL's weight of every negative: its difficulty for the debiased encoder relative to the biased one.

    Reference:
        [1] Jang, Wang. "Difficulty-Based Sampling for Debiased Contrastive Representation
            Learning", CVPR 2023.

    With ``s_ik = e^{cos(i, k)/t}`` in each encoder, L2-normalised over anchor ``i``'s negatives,
    ``s~_ik = s_ik / sqrt(sum_{k' in neg(i)} s_ik'^2)``:

        w_ik = 1 + s~d_ik / (s~b_ik + s~d_ik)   in [1, 2),

    computed in log space (the ratio is a sigmoid of ``log s~d - log s~b``) and without gradient.
    Self and positive entries are set to 1 (consumers ignore them).

    Args:
        d1, d2: ``(B, D)`` projections of the debiased encoder on two views.
        b1, b2: ``(B, D')`` projections of the biased encoder on the same views.
        temperature: ``t > 0``.

    Returns:
        ``(2B, 2B)`` float32 weights, detached: ``w_ik`` on anchor ``i``'s negatives ``k``, 1 on its
        self and positive entries.

    Raises:
        ValueError: bad shapes (all four ``(B, ·)`` with one ``B``), ``B < 2``, ``temperature <= 0``.

    Examples:
        >>> d1, d2, b1, b2 = (torch.randn(8, 16) for _ in range(4))
        >>> w = relative_difficulty_weights(d1, d2, b1, b2, temperature=0.5)  # (16, 16)
        >>> loss = weighted_debiased_nt_xent(d1, d2, w, temperature=0.5, tau_plus=0.1)
    """
    batch = _check_pair(d1, d2, "d1", "d2")
    if _check_pair(b1, b2, "b1", "b2") != batch:
        raise ValueError(f"the biased projections must hold the same B = {batch} images as the debiased ones, "
                         f"got {tuple(b1.shape)}")
    t = check_temperature(temperature)
    with torch.no_grad(), torch.autocast(device_type=d1.device.type, enabled=False):
        neg = negative_mask(batch, d1.device)
        log_d = _log_normalised_scores(d1, d2, t, neg)
        log_b = _log_normalised_scores(b1, b2, t, neg)
        w = 1 + torch.sigmoid(log_d - log_b)
        return torch.where(neg, w, torch.ones_like(w))


def distance_difficulty_weights(d1: torch.Tensor, d2: torch.Tensor, b1: torch.Tensor,
                                b2: torch.Tensor) -> torch.Tensor:
    """WCL's weight in its *distance* form (the authors' ``main.py``; ``main-wctr.py`` uses the
    similarity form of :func:`relative_difficulty_weights`).

    Reference:
        [1] Jang, Wang. "Difficulty-Based Sampling for Debiased Contrastive Representation
            Learning", CVPR 2023. Code: github.com/Taeuk-Jang/WCL, ``main.py``, function ``W``.

    With ``D_ik = ||u_i - u_k||^2`` between L2-normalised projections in each encoder (in ``[0, 4]``),
    L2-normalised over anchor ``i``'s negatives, ``D~_ik = D_ik / sqrt(sum_{k' in neg(i)} D_ik'^2)``:

        w_ik = 1 + D~d_ik / (D~b_ik + D~d_ik)   in [1, 2],

    without gradient. A negative far for the debiased encoder and close for the biased one gets a
    weight near 2: the ordering of the similarity form reversed (a large distance is a small
    similarity), so the negatives that share the anchor's shortcut (close for the biased encoder)
    get the *largest* weights here. (The authors add 1e-6 to the denominator; here a negative at
    distance 0 in both encoders gets weight 1, their value.) Self and positive entries are 1.

    Args:
        d1, d2: ``(B, D)`` projections of the debiased encoder on two views.
        b1, b2: ``(B, D')`` projections of the biased encoder on the same views.

    Returns:
        ``(2B, 2B)`` float32 weights, detached.

    Raises:
        ValueError: bad shapes (all four ``(B, ·)`` with one ``B``), ``B < 2``.

    Examples:
        >>> d1, d2, b1, b2 = (torch.randn(8, 16) for _ in range(4))
        >>> w = distance_difficulty_weights(d1, d2, b1, b2)  # (16, 16)
    """
    batch = _check_pair(d1, d2, "d1", "d2")
    if _check_pair(b1, b2, "b1", "b2") != batch:
        raise ValueError(f"the biased projections must hold the same B = {batch} images as the debiased ones, "
                         f"got {tuple(b1.shape)}")
    with torch.no_grad(), torch.autocast(device_type=d1.device.type, enabled=False):
        neg = negative_mask(batch, d1.device)

        def normalised_distances(u1, u2):
            u = unit_anchors(u1, u2)
            dist = (2 - 2 * u @ u.T).clamp_min(0) * neg  # squared distances of unit vectors, negatives only
            return dist / dist.norm(dim=1, keepdim=True).clamp_min(1e-12)

        dd, db = normalised_distances(d1, d2), normalised_distances(b1, b2)
        total = dd + db
        w = 1 + torch.where(total > 0, dd / total.clamp_min(1e-30), torch.zeros_like(total))
        return torch.where(neg, w, torch.ones_like(w))


WEIGHT_FORMS = ("similarity", "distance")


def weighted_debiased_nt_xent(z1: torch.Tensor, z2: torch.Tensor, weights: torch.Tensor, temperature: float = 0.5,
                              tau_plus: float = 0.1) -> torch.Tensor:
    """DCL with each negative's term multiplied by a weight (WCL's loss for the debiased encoder).

    Reference:
        [1] Jang, Wang. "Difficulty-Based Sampling for Debiased Contrastive Representation
            Learning", CVPR 2023.

    With ``N = 2B - 2`` negatives per anchor and weights ``w_ik`` (constants: no gradient):

        Ng_i = max( (sum_{k in neg(i)} w_ik e^{s_ik/t} - tau⁺ N e^{s_{i,p(i)}/t}) / (1 - tau⁺),  N e^{-1/t} ),
        l_i  = -log( e^{s_{i,p(i)}/t} / (e^{s_{i,p(i)}/t} + Ng_i) ).

    All-ones weights give ``debiased_nt_xent``. Computed in log space. A weight of 0 drops a
    negative; an anchor with no negative of positive weight gets ``Ng_i = N e^{-1/t}`` (the clamp).

    Args:
        z1, z2: ``(B, D)`` projections of two views of the same images.
        weights: ``(2B, 2B)``, finite and ``>= 0`` on the negative entries (self and positive ignored).
        temperature: ``t > 0``.
        tau_plus: class prior ``tau⁺`` in ``[0, 1)``.

    Returns:
        Scalar: the mean over the ``2B`` anchors.

    Raises:
        ValueError: bad shapes, ``B < 2``, ``temperature <= 0``, ``tau_plus`` outside ``[0, 1)``,
            weights of the wrong shape or negative/non-finite on a negative entry.

    Examples:
        >>> w = 1 + torch.rand(16, 16)  # e.g. relative_difficulty_weights(d1, d2, b1, b2)
        >>> loss = weighted_debiased_nt_xent(torch.randn(8, 16), torch.randn(8, 16), w, 0.5, 0.1)
    """
    batch = check_views(z1, z2)
    t = check_temperature(temperature)
    tp = check_tau_plus(tau_plus)
    if not isinstance(weights, torch.Tensor) or weights.shape != (2 * batch, 2 * batch):
        got = tuple(weights.shape) if isinstance(weights, torch.Tensor) else type(weights).__name__
        raise ValueError(f"weights must have shape (2B, 2B) = ({2 * batch}, {2 * batch}), got {got}")
    neg_mask = negative_mask(batch, z1.device)
    w = torch.where(neg_mask, weights.detach().to(device=z1.device, dtype=torch.float32), 1.0)  # self/positive ignored
    # One host sync for both checks: all weights valid, and whether some anchor has no weighted negative.
    valid = ((w >= 0) & (w < float("inf"))).all()  # NaN fails both comparisons
    empty = ~((w > 0) & neg_mask).any(dim=1)  # (2B,)
    all_valid, any_empty = torch.stack([valid, empty.any()]).tolist()
    if not all_valid:
        raise ValueError("weights must be finite and >= 0 on every negative entry")
    pos, neg = masked_logits(z1, z2, t)  # (2B,), (2B, 2B) with -inf off the negatives
    x = neg + w.log()  # log 0 = -inf drops a negative
    if any_empty:
        # A row of -inf: logsumexp's value (-inf, then the clamp) is right but its gradient is NaN.
        log_sum = torch.logsumexp(x.masked_fill(empty[:, None], 0.0), dim=1).masked_fill(empty, float("-inf"))
    else:
        log_sum = torch.logsumexp(x, dim=1)
    return debiased_loss(pos, log_sum, 2 * batch - 2, t, tp)
