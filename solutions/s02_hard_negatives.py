"""Notebook 02 (hard negatives, HCL): worked answers to exercises 1 and 2."""
import torch


def my_weights(z1, z2, t, beta):
    """HCL's importance weights w_ik ∝ exp(beta · cos(z_i, z_k) / t) over each anchor's 2B - 2
    negatives (column order of [z1; z2], skipping itself and its positive), mean 1 per row."""
    batch = z1.shape[0]
    n = 2 * batch
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)
    logits = z @ z.T / t  # (2B, 2B) cos / t
    idx = torch.arange(n)
    negative = torch.ones(n, n, dtype=torch.bool)
    negative[idx, idx] = False
    negative[idx, (idx + batch) % n] = False
    neg = logits[negative].view(n, n - 2)  # boolean indexing keeps row-major (column) order
    # exp(beta · s) grows fast: subtract each row's max first (it cancels in the normalisation)
    w = torch.exp(beta * (neg - neg.max(dim=1, keepdim=True).values))
    return w / w.mean(dim=1, keepdim=True)  # self-normalised: mean 1 per anchor


def effective_negatives(w):
    """Mean over anchors (rows) of the effective sample size (sum_k w_k)^2 / sum_k w_k^2.

    At beta = 0 every weight is 1, so it is N = 2B - 2; as beta -> infinity the weight of each row
    concentrates on its most similar negative, and it tends to 1."""
    return ((w.sum(dim=1) ** 2) / (w ** 2).sum(dim=1)).mean().item()
