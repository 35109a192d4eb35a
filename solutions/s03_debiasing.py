"""Notebook 03 (debiasing, DCL): worked answers to exercises 1 and 2."""
import math

import torch


def class_prior(labels):
    """sum_c pi_c^2: the probability that two independent draws share a class."""
    pi = torch.bincount(labels).float() / len(labels)  # share of each class
    return (pi ** 2).sum().item()


def debiased_negatives(pos, neg, t, tau_plus):
    """DCL's clamped estimate N · max(g_i, e^{-1/t}) per anchor, with
    g_i = (mean_k e^{neg_ik} - tau+ e^{pos_i}) / (1 - tau+); pos (M,) and neg (M, N) are cos / t."""
    n = neg.shape[1]
    g = (neg.exp().mean(dim=1) - tau_plus * pos.exp()) / (1 - tau_plus)
    # clamp g itself at its theoretical minimum e^{-1/t} (cos >= -1), then scale by N
    return n * torch.clamp(g, min=math.exp(-1 / t))
