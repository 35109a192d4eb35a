"""Notebook 02 (hard negatives, HCL): worked answers to exercises 1, 2 and 5 (HCL with detached weights)."""
import math

import torch


def _logits(z1, z2, t):
    """cos/t of each of the 2B anchors of [z1; z2] with its positive (2B,) and with its 2B - 2
    negatives (2B, N), the negatives in column order (boolean indexing keeps row-major order)."""
    batch, n = z1.shape[0], 2 * z1.shape[0]
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)
    logits = z @ z.T / t  # (2B, 2B)
    idx = torch.arange(n)
    positive = (idx + batch) % n
    negative = torch.ones(n, n, dtype=torch.bool)
    negative[idx, idx] = False
    negative[idx, positive] = False
    return logits[idx, positive], logits[negative].view(n, n - 2)


def my_weights(z1, z2, t, beta):
    """HCL's importance weights w_ik ∝ exp(beta · cos(z_i, z_k) / t) over each anchor's 2B - 2
    negatives (column order of [z1; z2], skipping itself and its positive), mean 1 per row."""
    _, neg = _logits(z1, z2, t)
    # exp(beta · s) grows fast: subtract each row's max first (it cancels in the normalisation)
    w = torch.exp(beta * (neg - neg.max(dim=1, keepdim=True).values))
    return w / w.mean(dim=1, keepdim=True)  # self-normalised: mean 1 per anchor


def effective_negatives(w):
    """Mean over anchors (rows) of the effective sample size (sum_k w_k)^2 / sum_k w_k^2.

    At beta = 0 every weight is 1, so it is N = 2B - 2; as beta -> infinity the weight of each row
    concentrates on its most similar negative, and it tends to 1."""
    return ((w.sum(dim=1) ** 2) / (w ** 2).sum(dim=1)).mean().item()


def hcl_detached_loss(z1, z2, t, beta):
    """Exercise 5: HCL at tau+ = 0 with the importance weights treated as constants.

    l_i = -log( e^{s_pos/t} / (e^{s_pos/t} + sum_k w_ik e^{s_ik/t}) ), w_ik = N softmax_k(beta s_ik/t),
    computed in log space; the weights' log is detached, so the value equals the package's loss and
    only the gradient changes (no gradient through w). Whether kNN accuracy moves, and which way,
    is a measurement (discussion)."""
    n = 2 * z1.shape[0]
    pos, neg = _logits(z1, z2, t)
    log_w = (torch.log_softmax(beta * neg, dim=1) + math.log(n - 2)).detach()  # log w_ik, mean w = 1, no gradient
    log_neg_sum = torch.logsumexp(neg + log_w, dim=1)  # log sum_k w_ik e^{s_ik/t}
    return (torch.logaddexp(pos, log_neg_sum) - pos).mean()
