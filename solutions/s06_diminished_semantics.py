"""Notebook 06 (negatives with diminished semantics): worked answers to the exercises that write code
(1: the copies' share of the denominator, 2: patchify, 4: a copy of your own). `my_nonsemantic`
answers an earlier version of exercise 1 (the loss itself; its checker is kept)."""
import torch


def my_nonsemantic(z1, z2, z_neg, t, alpha):
    """NT-Xent where both views of image a also have its K non-semantic negatives z_neg[a]
    (B, K, D) in the denominator, with logits alpha · cos / t; the mean over the 2B anchors."""
    batch = z1.shape[0]
    n = 2 * batch
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)  # (2B, D)
    zn = z_neg / z_neg.norm(dim=-1, keepdim=True)
    zn = torch.cat([zn, zn])  # (2B, K, D): anchor i and anchor i + B are views of the same image
    logits = z @ z.T / t  # (2B, 2B)
    logits = logits.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))  # not itself
    copies = alpha * (z[:, None, :] * zn).sum(dim=-1) / t  # (2B, K)
    everything = torch.cat([logits, copies], dim=1)  # the denominator's terms, positive included
    idx = torch.arange(n)
    pos = logits[idx, (idx + batch) % n]
    # -log(e^pos / sum e^...) = logsumexp - pos
    return (torch.logsumexp(everything, dim=1) - pos).mean()


def my_patchify(x, p):
    """(N, (H/p)·(W/p), C, p, p): the p×p patches of each image, in row-major order of the grid."""
    n, c, h, w = x.shape
    gh, gw = h // p, w // p
    # split H into (grid row, row within patch) and W into (grid column, column within patch)
    patches = x.reshape(n, c, gh, p, gw, p)
    # order the axes as (image, grid row, grid column, channel, row, column), then merge the grid
    return patches.permute(0, 2, 4, 1, 3, 5).reshape(n, gh * gw, c, p, p)


def my_copy_share(z1, z2, z_neg, t, alpha):
    """(2B,): the share of each anchor's denominator (positive, 2B - 2 negatives, K copies) that its
    own copies take, the copies' logits alpha · cos / t."""
    batch = z1.shape[0]
    n = 2 * batch
    z = torch.cat([z1, z2])
    z = z / z.norm(dim=1, keepdim=True)
    zn = z_neg / z_neg.norm(dim=-1, keepdim=True)
    zn = torch.cat([zn, zn])  # (2B, K, D): both views of image a see a's copies
    logits = z @ z.T / t
    logits = logits.masked_fill(torch.eye(n, dtype=torch.bool), float("-inf"))  # not itself
    copies = alpha * (z[:, None, :] * zn).sum(dim=-1) / t  # (2B, K)
    # share = sum_j e^{copy_j} / (sum_k e^{logit_k} + sum_j e^{copy_j}), in log space for stability
    return torch.exp(torch.logsumexp(copies, dim=1) - torch.logsumexp(torch.cat([logits, copies], dim=1), dim=1))


def my_copy(x, gen):
    """A non-semantic copy of each image: its pixels in a random order (one permutation per image).
    The colour histogram survives exactly; strokes, texture and shape do not."""
    n, c, h, w = x.shape
    order = torch.rand(n, h * w, generator=gen, device=x.device).argsort(dim=1)  # (N, H·W)
    flat = x.reshape(n, c, h * w)
    return flat.gather(2, order[:, None, :].expand(n, c, h * w)).reshape(n, c, h, w)
