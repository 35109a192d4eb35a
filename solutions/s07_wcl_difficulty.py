"""Notebook 07 (difficulty-based debiasing, WCL): worked answers to the exercises that write code
(1: the weight with the encoders' roles reversed, 2: a triplet loss with a margin). `my_weights` and
`my_triplet` answer an earlier version (section 2's weight and loss; their checkers are kept)."""
import torch


def _negative_mask(batch):
    """(2B, 2B) bool: each anchor's 2B - 2 negatives (not itself, not its positive)."""
    n = 2 * batch
    idx = torch.arange(n)
    negative = torch.ones(n, n, dtype=torch.bool)
    negative[idx, idx] = False
    negative[idx, (idx + batch) % n] = False
    return negative


def _normalised_scores(u1, u2, t, negative):
    """s_ik = exp(cos(i, k) / t), L2-normalised over anchor i's negatives; 0 elsewhere."""
    u = torch.cat([u1, u2])
    u = u / u.norm(dim=1, keepdim=True)
    s = torch.exp(u @ u.T / t) * negative
    return s / (s ** 2).sum(dim=1, keepdim=True).sqrt()


def _unit_distances(b1, b2):
    """(2B, 2B) squared distances of the L2-normalised rows of [b1; b2], and each anchor's distance to its positive."""
    batch, n = b1.shape[0], 2 * b1.shape[0]
    b = torch.cat([b1, b2])
    b = b / b.norm(dim=1, keepdim=True)
    dist = ((b[:, None, :] - b[None, :, :]) ** 2).sum(dim=-1)
    idx = torch.arange(n)
    return dist, dist[idx, (idx + batch) % n]


def my_weights(d1, d2, b1, b2, t):
    """(2B, 2B): w_ik = 1 + s~d_ik / (s~b_ik + s~d_ik) on the negatives (d: debiased encoder,
    b: biased encoder), 1 on self and positive."""
    negative = _negative_mask(d1.shape[0])
    sd = _normalised_scores(d1, d2, t, negative)
    sb = _normalised_scores(b1, b2, t, negative)
    w = 1 + sd / (sb + sd)  # in [1, 2): heavier where the debiased encoder finds k harder than the biased one
    return torch.where(negative, w, torch.ones_like(w))


def my_triplet(b1, b2, tau_plus):
    """WCL's biased encoder loss, mean over the 2B anchors, with d = squared distance of unit vectors:
    l_i = d_pos - (sum_k d_ik - tau+ N d_pos) / (1 - tau+)."""
    batch, n = b1.shape[0], 2 * b1.shape[0]
    dist, d_pos = _unit_distances(b1, b2)
    d_neg = (dist * _negative_mask(batch)).sum(dim=1)  # sum over the N = 2B - 2 negatives
    return (d_pos - (d_neg - tau_plus * (n - 2) * d_pos) / (1 - tau_plus)).mean()


def my_reversed_weights(d1, d2, b1, b2, t):
    """(2B, 2B): w_ik = 1 + s~b_ik / (s~b_ik + s~d_ik) on the negatives: the largest weight where the
    biased encoder finds the negative close (relative to the debiased one); 1 on self and positive."""
    negative = _negative_mask(d1.shape[0])
    sd = _normalised_scores(d1, d2, t, negative)
    sb = _normalised_scores(b1, b2, t, negative)
    w = 1 + sb / (sb + sd)
    return torch.where(negative, w, torch.ones_like(w))


def my_margin_triplet(b1, b2, margin):
    """Triplet loss with a margin on squared distances of unit vectors: per anchor the mean over its
    N = 2B - 2 negatives of max(0, d_pos - d_neg + margin), then the mean over the 2B anchors."""
    batch, n = b1.shape[0], 2 * b1.shape[0]
    dist, d_pos = _unit_distances(b1, b2)
    hinge = torch.clamp(d_pos[:, None] - dist + margin, min=0)  # (anchor, candidate)
    return ((hinge * _negative_mask(batch)).sum(dim=1) / (n - 2)).mean()
