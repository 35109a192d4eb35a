"""Notebook 04 (false negative cancellation, FNC): worked answers to exercises 1 and 2."""
import torch


def precision_recall(flags, labels):
    """(precision, recall) of a (B, B) bool flag matrix against the labels, off the diagonal."""
    off_diagonal = ~torch.eye(len(labels), dtype=torch.bool)  # an image with itself is no pair
    same = (labels[:, None] == labels[None, :]) & off_diagonal
    flagged = flags & off_diagonal
    hits = (flagged & same).sum().item()
    n_flagged, n_same = flagged.sum().item(), same.sum().item()
    precision = hits / n_flagged if n_flagged else float("nan")
    recall = hits / n_same if n_same else float("nan")
    return precision, recall


def support_scores(support, candidates, aggregate):
    """(B, B): score[a, b] = max or mean over image a's S support views (B, S, D) of the cosine
    similarity to candidate b (B, D)."""
    s = support / support.norm(dim=-1, keepdim=True)  # unit vectors on both sides
    c = candidates / candidates.norm(dim=-1, keepdim=True)
    cos = s @ c.T  # (B, S, D) @ (D, B) -> (B, S, B): view s of image a against candidate b
    return cos.max(dim=1).values if aggregate == "max" else cos.mean(dim=1)
