"""Notebook 05 (ring sampling, CNCE): worked answers to exercises 1 and 2."""
import math

import torch


def my_ring(logits, B, lower, upper):
    """(2B, 2B) bool: anchor i keeps negative k when k's similarity rank r among i's N = 2B - 2
    negatives (0 = most similar) satisfies lower·N <= r < upper·N; self and positive never."""
    n = 2 * B
    idx = torch.arange(n)
    negative = torch.ones(n, n, dtype=torch.bool)
    negative[idx, idx] = False
    negative[idx, (idx + B) % n] = False
    # self and positive sort last, so the negatives take ranks 0 .. N - 1
    x = logits.masked_fill(~negative, float("-inf"))
    order = x.argsort(dim=1, descending=True)  # order[i, r]: the column of rank r
    rank = torch.empty_like(order)
    rank.scatter_(1, order, idx.expand(n, n))  # rank[i, k]: the rank of column k
    # integer ranks with lower·N <= r < upper·N are ceil(lower·N) .. ceil(upper·N) - 1
    first, stop = math.ceil(lower * (n - 2)), math.ceil(upper * (n - 2))
    return negative & (rank >= first) & (rank < stop)


def my_schedule(progress, lower, upper):
    """The ring at a point of the annealing: (0, 1) at progress 0, (lower, upper) at 1 and after."""
    a = min(1.0, max(0.0, progress))  # past the end of the annealing the ring stays put
    return lower * a, 1.0 + (upper - 1.0) * a  # linear from 0 to lower and from 1 to upper
