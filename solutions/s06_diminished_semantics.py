"""Notebook 06 (negatives with diminished semantics): worked answers to exercises 1 and 2."""
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
