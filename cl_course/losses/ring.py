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
    (``ndarray.partition``) finds one in linear time, several times faster than ``torch.topk`` or
    ``torch.kthvalue`` here (``benchmarks/bench_losses.py``); the second is then selected among the
    ``stop`` values the first partition put at the row's end. Other devices use ``torch.topk``, which
    is fast there.
    """
    if logits.device.type == "cpu":
        return _thresholds_by_partition(logits, batch, first, stop)
    return _thresholds_by_topk(logits, batch, first, stop)


def _negatives_only(x, rows, target, fill):
    x[rows, rows] = fill  # self and positive are not negatives
    x[rows, target] = fill
    return x


# numpy (2.x, with AVX-512) partitions a row of up to 512 int32 keys in registers, about 0.9 ns a key
# here, and a 1,024-wide row at about 3.9 ns a key (float32: 1.8 and 4.6 ns; README, loss costs): rows
# wider than this are cut into pieces of at most this width first (_partition_largest). Without AVX-512
# whole rows are fast and the cut costs a little; it is kept everywhere, and is exact either way.
FAST_PARTITION_WIDTH = 512


def order_keys(x: torch.Tensor) -> torch.Tensor:
    """int32 keys in the order of the float32 values ``x`` (not NaN): ``a < b`` exactly when
    ``key(a) < key(b)``, so an order statistic of the keys is that of the values, exactly; numpy
    partitions int32 about twice as fast as float32. A non-negative float's bits already count up
    with its value; a negative one's count down, so its 31 low bits are flipped. The map is its own
    inverse (:func:`key_values`). ``-0.0`` gets the key just below ``+0.0``'s."""
    return _flip_negatives(x.contiguous().view(torch.int32))


def key_values(keys: torch.Tensor) -> torch.Tensor:
    """The float32 values of :func:`order_keys`' keys."""
    return _flip_negatives(keys.contiguous()).view(torch.float32)


def _flip_negatives(bits):
    flip = bits >> 31           # -1 where the sign bit is set, else 0: one new tensor, then in place
    flip &= 0x7FFFFFFF
    flip ^= bits
    return flip


def _pieces(width: int, k: int) -> int:
    """How many pieces :func:`_partition_largest` cuts a row of ``width`` into to find its ``k``
    largest: 1 (no cut) unless the row is wider than ``FAST_PARTITION_WIDTH`` and the ``k`` largest
    of every piece, together, fit in that width."""
    parts = -(-width // FAST_PARTITION_WIDTH)
    return parts if parts > 1 and parts * k <= FAST_PARTITION_WIDTH else 1


def _partition_largest(x: np.ndarray, k: int) -> np.ndarray:
    """Partition each row of the integer keys ``x`` (``(rows, width)``, ``k <= width``) so that its
    ``k`` largest fill its last ``k`` columns, the ``k``-th largest first among them; returns the
    partitioned array (``x`` itself, changed in place, or a narrower one).

    A row's ``k`` largest values are among the ``k`` largest of each of its pieces. So a row wider
    than ``FAST_PARTITION_WIDTH`` is cut into ``p`` pieces of at most that width (the dtype's lowest
    value pads the last), each piece is partitioned, and the row's ``k`` largest are then selected
    among the ``p·k`` values kept: exact, and cheaper whenever ``p·k`` fits in that width too.
    """
    rows, width = x.shape
    parts = _pieces(width, k)
    if parts > 1:
        piece = -(-width // parts)
        if piece * parts != width:
            padded = np.full((rows, piece * parts), np.iinfo(x.dtype).min, dtype=x.dtype)
            padded[:, :width] = x
            x = padded
        pieces = x.reshape(rows * parts, piece)
        pieces.partition(piece - k, axis=1)
        x = pieces.reshape(rows, parts, piece)[:, :, piece - k:].reshape(rows, parts * k)  # a copy
        width = parts * k
    x.partition(width - k, axis=1)
    return x


def _thresholds_by_partition(logits, batch, first, stop):
    n2 = 2 * batch
    rows, target = np.arange(n2), positive_index(batch, logits.device).cpu().numpy()
    keys = order_keys(logits.detach().float().cpu()).numpy()   # a new array: numpy may change it
    keys = _negatives_only(keys, rows, target, np.iinfo(np.int32).min)
    hi = None
    if first > 0 and _pieces(n2, first + 1) > 1 and _pieces(n2, stop) == 1:
        # a wide ring: its upper end is cheaper from pieces of the whole row than among the `stop` largest
        hi = _partition_largest(keys.copy(), first + 1)[:, -(first + 1)]
    top = _partition_largest(keys, stop)[:, -stop:]      # each row's `stop` largest, its `stop`-th first
    if first > 0 and hi is None:
        hi = np.partition(top, stop - 1 - first, axis=1)[:, stop - 1 - first]
    lo = key_values(torch.from_numpy(np.ascontiguousarray(top[:, 0])))
    return (None if hi is None else key_values(torch.from_numpy(np.ascontiguousarray(hi)))), lo


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
    # With resampling, (N / |ring(i)|) · sum_ring e^{s} next to e^{p} is the same softmax as sum_ring e^{s}
    # next to e^{p - log(N / |ring(i)|)}: shift the positive's logit instead of every kept one.
    # |ring(i)| = 2B + (the row's sum of 0 kept / -1 not), summed in float32: bf16 is not exact above 256.
    kept = outside.sum(1, dtype=torch.float32).add_(2 * batch) if resample else None
    bias = outside.mul_(torch.finfo(outside.dtype).max)
    if resample:
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
