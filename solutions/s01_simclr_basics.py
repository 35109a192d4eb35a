"""Notebook 01 (SimCLR basics): worked answers to exercises 1, 2 (alignment and uniformity) and 5 (the loss without negatives)."""
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


def positives_only_loss(z1, z2, t):
    """Exercise 5: NT-Xent without its denominator, the mean over the 2B anchors of -s_{i,p(i)} / t.

    Each anchor of [z1; z2] has the other view of its image as positive, so the 2B terms are the
    B cosines cos(z1_b, z2_b), each counted twice. Nothing pushes images apart: the encoder can
    lower this loss by mapping every image to one point (collapse), so alignment goes to 0 (its best
    value), uniformity goes to 0 (its worst), and kNN accuracy falls towards chance or stays near
    the untrained encoder's, how far in a short run being a measurement (discussion)."""
    z1 = z1 / z1.norm(dim=1, keepdim=True)
    z2 = z2 / z2.norm(dim=1, keepdim=True)
    cos = (z1 * z2).sum(dim=1)  # (B,) cosine of each positive pair
    return -(torch.cat([cos, cos]) / t).mean()
