"""Notebook 01 (SimCLR basics): worked answers to exercises 1 and 2, and the uniformity the hint points to."""
import torch


def same_class_share(labels):
    """Share of all anchors' negatives that have the anchor's class (false negatives)."""
    batch = len(labels)
    y = torch.cat([labels, labels])  # the 2B anchors: view 1 of every image, then view 2
    n = 2 * batch
    same = y[:, None] == y[None, :]  # (2B, 2B): same class
    idx = torch.arange(n)
    negative = torch.ones(n, n, dtype=torch.bool)
    negative[idx, idx] = False  # not the anchor itself
    negative[idx, (idx + batch) % n] = False  # not its positive (the other view of its image)
    # every anchor has 2B - 2 negatives; count the same-class ones over all anchors
    return ((same & negative).sum() / negative.sum()).item()


def my_alignment(z1, z2):
    """E ||f(x) - f(x+)||^2 over the positive pairs, rows L2-normalised first."""
    z1 = z1 / z1.norm(dim=1, keepdim=True)
    z2 = z2 / z2.norm(dim=1, keepdim=True)
    return ((z1 - z2) ** 2).sum(dim=1).mean().item()


def my_uniformity(z):
    """log E exp(-2 ||f(x) - f(y)||^2) over distinct pairs x != y of L2-normalised rows."""
    z = z / z.norm(dim=1, keepdim=True)
    sq = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)  # (M, M) squared distances
    i, j = torch.triu_indices(len(z), len(z), offset=1)  # each unordered pair once, no x with itself
    sq = sq[i, j]
    # log of a mean of exponentials, computed as logsumexp - log(count) so it cannot underflow
    return (torch.logsumexp(-2 * sq, dim=0) - torch.log(torch.tensor(float(len(sq))))).item()
