"""Ring sampling (CNCE): keep only the negatives inside a band of similarity ranks."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .similarity import check_temperature, check_views, cosine_logits, negative_mask, positive_index


def check_ring(lower: float, upper: float) -> tuple[float, float]:
    """Raise ``ValueError`` unless ``0 <= lower < upper <= 1``."""
    lo, up = float(lower), float(upper)
    if not (math.isfinite(lo) and math.isfinite(up) and 0.0 <= lo < up <= 1.0):
        raise ValueError(f"the ring needs 0 <= lower < upper <= 1 (shares of the ranked negatives), "
                         f"got lower={lower!r}, upper={upper!r}")
    return lo, up


def check_ring_keeps(lower: float, upper: float, batch: int) -> tuple[int, int]:
    """The kept ranks ``first .. stop - 1`` of a batch of ``batch`` images (``N = 2B - 2``
    negatives per anchor); raise ``ValueError`` with the sizes when the ring keeps none."""
    n = 2 * batch - 2
    first, stop = math.ceil(lower * n), math.ceil(upper * n)
    if first >= stop:
        raise ValueError(f"the ring (lower={lower}, upper={upper}) keeps no negative at batch size B={batch}: "
                         f"of N = 2B - 2 = {n} ranked negatives it keeps ranks ceil(lower·N) = {first} to "
                         f"ceil(upper·N) - 1 = {stop - 1}; widen the ring or raise the batch size")
    return first, stop


def similarity_ranks(logits: torch.Tensor, batch: int) -> torch.Tensor:
    """``(2B, 2B)`` rank of each column among the anchor's ``N = 2B - 2`` negatives (0 = the most
    similar); self and positive rank last (``N`` and ``N + 1``)."""
    neg = negative_mask(batch, logits.device)
    ranked = logits.detach().masked_fill(~neg, float("-inf"))
    return ranked.argsort(dim=1, descending=True).argsort(dim=1)


def ring_mask(logits: torch.Tensor, batch: int, lower: float, upper: float) -> torch.Tensor:
    """``(2B, 2B)`` bool: the negatives of each anchor whose similarity rank ``r`` (0 = most
    similar among its ``N = 2B - 2`` negatives) satisfies ``lower·N <= r < upper·N``.

    The ranks ``ceil(lower·N) .. ceil(upper·N) - 1`` are kept: a selection per row gives the similarity
    at each end of the ring and the mask is two comparisons (no rank matrix; ties at an end of the
    ring are all kept or all dropped together).
    """
    n = 2 * batch - 2
    neg = negative_mask(batch, logits.device)
    x = logits.detach().masked_fill(~neg, float("-inf"))
    first, stop = math.ceil(lower * n), math.ceil(upper * n)  # kept ranks: first .. stop - 1
    keep = neg.clone()
    if first >= stop:
        return torch.zeros_like(neg)
    if first == 0 and stop >= n:
        return keep
    if stop <= n // 4:
        # A band among the closest negatives (CNCE's 1 %-10 %): one partial top-k of the `stop` largest
        # per row holds both ends; on a CPU it costs about half of two whole-row selections.
        top = x.topk(stop, dim=1).values  # (2B, stop), descending
        if first > 0:
            keep &= x <= top[:, first:first + 1]
        return keep & (x >= top[:, stop - 1:stop])
    # The negative of rank r (descending) is the (n + 2 - r)-th smallest entry of its row: self and
    # positive are -inf. kthvalue selects without sorting the row (about 2x faster than a sort).
    if first > 0:
        keep &= x <= x.kthvalue(n + 2 - first, dim=1, keepdim=True).values
    if stop < n:
        keep &= x > x.kthvalue(n + 2 - stop, dim=1, keepdim=True).values
    return keep


def ring_nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = 0.5, lower: float = 0.0,
                 upper: float = 1.0, resample: bool = False) -> torch.Tensor:
    """NT-Xent over a ring of negatives (conditional negative sampling, CNCE).

    Reference:
        [1] Wu, Zhuang, Mosse, Yamins, Goodman. "Conditional Negative Sampling for Contrastive
            Learning of Visual Representations", ICLR 2021. https://arxiv.org/abs/2010.02037

    Per anchor ``i``, its ``N = 2B - 2`` negatives are ranked by similarity (rank 0 = the most
    similar) and only the ranks ``r`` with ``lower·N <= r < upper·N`` are kept: not too easy
    (below the ring), not so close that they are probably positives (above it). The positive stays
    in the denominator:

        l_i = -log( e^{s_{i,p(i)}/t} / (e^{s_{i,p(i)}/t} + sum_{k in ring(i)} e^{s_ik/t}) ).

    The ranks carry no gradient. ``(lower, upper) = (0, 1)`` gives ``nt_xent``.

    With ``resample=True`` each kept negative's logit is shifted by ``log(N / |ring(i)|)``: the
    in-batch equivalent of drawing ``N`` negatives from the ring, as CNCE does, so the denominator
    keeps its size while its mass moves to the ring (a hard-negative estimator, like HCL):

        l_i = -log( e^{s_{i,p(i)}/t} / (e^{s_{i,p(i)}/t} + (N / |ring(i)|) sum_{k in ring(i)} e^{s_ik/t}) ).

    With the full ring the shift is 0 and the loss is ``nt_xent`` either way.

    Args:
        z1, z2: ``(B, D)`` projections of two views of the same images.
        temperature: ``t > 0``.
        lower, upper: the ring as shares of the ranked negatives, ``0 <= lower < upper <= 1``.
        resample: scale the ring's terms to ``N`` negatives (CNCE's estimator), see above.

    Raises:
        ValueError: bad shapes, ``B < 2``, ``temperature <= 0``, not ``0 <= lower < upper <= 1``,
            a ring that keeps no negative at this batch size.
    """
    batch = check_views(z1, z2)
    t = check_temperature(temperature)
    lo, up = check_ring(lower, upper)
    check_ring_keeps(lo, up, batch)
    logits = cosine_logits(z1, z2, t)  # (2B, 2B)
    target = positive_index(batch, logits.device)
    keep = ring_mask(logits, batch, lo, up)
    if resample:  # + log(N / |ring(i)|) on each kept negative: N draws from the ring
        n = 2 * batch - 2
        shift = torch.log(n / keep.sum(1, keepdim=True).to(logits.dtype))  # (2B, 1)
        logits = logits + shift * keep
    keep[torch.arange(2 * batch, device=logits.device), target] = True
    return F.cross_entropy(logits.masked_fill(~keep, float("-inf")), target)
