"""Ring sampling (CNCE): keep only the negatives inside a band of similarity ranks."""
from __future__ import annotations

import math

import numpy as np
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
    first, stop = kept_ranks(lower, upper, batch)
    if first >= stop:
        raise ValueError(f"the ring (lower={lower}, upper={upper}) keeps no negative at batch size B={batch}: "
                         f"of N = 2B - 2 = {n} ranked negatives it keeps ranks ceil(lower·N) = {first} to "
                         f"ceil(upper·N) - 1 = {stop - 1}; widen the ring or raise the batch size")
    return first, stop


def kept_ranks(lower: float, upper: float, batch: int) -> tuple[int, int]:
    """``(first, stop)``: the ring keeps the similarity ranks ``first .. stop - 1`` of the
    ``N = 2B - 2`` negatives, ``first = ceil(lower·N)``, ``stop = ceil(upper·N)`` (none when
    ``first >= stop``)."""
    n = 2 * batch - 2
    return math.ceil(lower * n), math.ceil(upper * n)


def similarity_ranks(logits: torch.Tensor, batch: int) -> torch.Tensor:
    """``(2B, 2B)`` rank of each column among the anchor's ``N = 2B - 2`` negatives (0 = the most
    similar); self and positive rank last (``N`` and ``N + 1``)."""
    neg = negative_mask(batch, logits.device)
    ranked = logits.detach().masked_fill(~neg, float("-inf"))
    return ranked.argsort(dim=1, descending=True).argsort(dim=1)


def ring_thresholds(logits: torch.Tensor, batch: int, first: int, stop: int) -> tuple[torch.Tensor | None, torch.Tensor]:
    """Per anchor, the similarity of its negatives of rank ``first`` and ``stop - 1`` (0 = the most
    similar of its ``N = 2B - 2`` negatives), ``(2B,)`` each, without gradient; the first is ``None``
    when ``first == 0`` (no upper cut).

    Only two order statistics per row are needed, never a sort. On a CPU, numpy's introselect
    (``ndarray.partition``) finds one in linear time, about 8x faster than ``torch.topk`` or
    ``torch.kthvalue`` on a 1024-wide row here (``benchmarks/bench_losses.py``); the second is then
    selected among the ``stop`` values the first partition put at the row's end. Other devices use
    ``torch.topk``, which is fast there.
    """
    if logits.device.type == "cpu":
        return _thresholds_by_partition(logits, batch, first, stop)
    return _thresholds_by_topk(logits, batch, first, stop)


def _negatives_only(x, rows, target, fill):
    x[rows, rows] = fill  # self and positive are not negatives
    x[rows, target] = fill
    return x


def _thresholds_by_partition(logits, batch, first, stop):
    n2 = 2 * batch
    rows, target = np.arange(n2), positive_index(batch, logits.device).cpu().numpy()
    x = _negatives_only(logits.detach().float().cpu().numpy().copy(), rows, target, -np.inf)  # numpy has no bf16
    x.partition(n2 - stop, axis=1)                       # ascending: the `stop` largest sit at the end
    lo = torch.from_numpy(x[:, n2 - stop].copy())
    if first == 0:
        return None, lo
    hi = np.partition(x[:, n2 - stop:], stop - 1 - first, axis=1)[:, stop - 1 - first]  # among the `stop` closest
    return torch.from_numpy(np.ascontiguousarray(hi)), lo


def _thresholds_by_topk(logits, batch, first, stop):
    rows = torch.arange(2 * batch, device=logits.device)
    x = _negatives_only(logits.detach().clone(), rows, positive_index(batch, logits.device), float("-inf"))
    top = x.topk(stop, dim=1).values                     # descending
    return (top[:, first] if first > 0 else None), top[:, stop - 1]


def ring_mask(logits: torch.Tensor, batch: int, lower: float, upper: float) -> torch.Tensor:
    """``(2B, 2B)`` bool: the negatives of each anchor whose similarity rank ``r`` (0 = most
    similar among its ``N = 2B - 2`` negatives) satisfies ``lower·N <= r < upper·N``.

    The ranks ``ceil(lower·N) .. ceil(upper·N) - 1`` are kept: two order statistics per row give
    the similarity at each end of the ring (``ring_thresholds``), and a negative is kept when it lies
    between them (no rank matrix; ties at an end of the ring are all kept or all dropped together).
    The loss selects with the same code (``_ring_outside``).
    """
    return _ring_outside(logits, batch, *kept_ranks(lower, upper, batch)) == 0


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
    first, stop = check_ring_keeps(lo, up, batch)
    logits = cosine_logits(z1, z2, t)  # (2B, 2B)
    outside = _ring_outside(logits, batch, first, stop)
    target = positive_index(batch, logits.device)
    rows = torch.arange(2 * batch, device=logits.device)
    # The ring as an additive mask built without gradient (0 kept, the dtype's lowest value dropped: its
    # softmax weight is exactly 0, as with -inf): one pass forward and none backward, where a masked
    # copy with gradient costs one each way.
    bias = outside.mul_(torch.finfo(outside.dtype).max)
    # With resampling, (N / |ring(i)|) · sum_ring e^{s} next to e^{p} is the same softmax as sum_ring e^{s}
    # next to e^{p - log(N / |ring(i)|)}: shift the positive's logit instead of every kept one.
    # The count in float32: in bf16 counts above 256 are not exact.
    if resample:
        kept = (bias == 0).sum(1, dtype=torch.float32)
        bias[rows, target] = -torch.log((2 * batch - 2) / kept)
    else:
        bias[rows, target] = 0.0
    return F.cross_entropy(logits + bias, target)


def _ring_outside(logits: torch.Tensor, batch: int, first: int, stop: int) -> torch.Tensor:
    """:func:`ring_mask` for the kept ranks ``first .. stop - 1`` (:func:`kept_ranks`) as a float
    matrix in the logits' dtype, without gradient: 0 for a kept negative, -1 for everything else
    (self and the positive included; everything when ``first >= stop``); the loss scales it into its
    additive mask. Built with float arithmetic (distance to the nearer end of the ring, clamped at 0,
    its sign), which measured cheaper on the CPU than comparisons and ``where`` on a bool matrix
    (README, loss costs)."""
    n = 2 * batch - 2
    x = logits.detach()
    rows = torch.arange(2 * batch, device=x.device)
    if first >= stop:
        return torch.full_like(x, -1.0)
    if first == 0 and stop >= n:
        outside = torch.zeros_like(x)
    else:
        hi, lo = ring_thresholds(x, batch, first, stop)
        gap = x - lo.to(x.device, x.dtype).unsqueeze(1)                  # >= 0 on or above the lower end
        if hi is not None:
            gap = torch.minimum(gap, hi.to(x.device, x.dtype).unsqueeze(1) - x)  # and on or below the upper end
        outside = gap.clamp_(max=0).sign_()                               # 0 inside the ring, ends included; else -1
    outside[rows, rows] = -1                                               # self and positive are not negatives
    outside[rows, positive_index(batch, x.device)] = -1
    return outside
