"""Evaluation of frozen representations: weighted kNN, a linear probe, accuracy by group on biased
data, alignment and uniformity."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from .precision import autocast, resolve_bf16


@torch.no_grad()
def embed(
    encoder: nn.Module,
    images: torch.Tensor,
    preprocess: Callable[[torch.Tensor], torch.Tensor],
    batch_size: int = 1024,
    device: torch.device | str | None = None,
    bf16: bool | None = None,
) -> torch.Tensor:
    """Representations ``(N, F)`` (float32, on the CPU) of uint8 images ``(N, C, H, W)``.

    ``preprocess`` turns a uint8 batch into network input (``views.plain``). The encoder is put in
    eval mode for the pass and restored afterwards. ``bf16``: the pass under bf16 autocast, as in
    training (``None``: :func:`cl_course.precision.bf16_default`).
    """
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = []
    use_bf16 = resolve_bf16(bf16, device)
    for start in range(0, len(images), batch_size):
        x = preprocess(images[start : start + batch_size].to(device, non_blocking=True))
        x = x.contiguous(memory_format=torch.channels_last)
        with autocast(device, use_bf16):
            out.append(encoder(x).float().cpu())
    encoder.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def knn_predict(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    num_classes: int,
    k: int = 200,
    temperature: float = 0.1,
    chunk: int = 1024,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Weighted k-nearest-neighbour class scores ``(M, num_classes)``, on the CPU.

    The protocol of the kNN monitor in the HCL/DCL authors' code (after Wu et al. 2018): cosine
    similarities to the training bank, the ``k`` most similar neighbours each vote for its class
    with weight ``exp(s / temperature)``.

    ``device``: where the similarities, top-k and votes are computed (``None``: where
    ``train_features`` are). On a GPU the matrix product and top-k of a 50,000-image bank take
    milliseconds instead of seconds on the CPU; the scores come back to the CPU either way.
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    device = torch.device(device) if device is not None else train_features.device
    bank = F.normalize(train_features.to(device).float(), dim=1)
    bank_labels = train_labels.to(device)
    k = min(k, len(bank))
    scores = []
    for start in range(0, len(test_features), chunk):
        q = F.normalize(test_features[start : start + chunk].to(device).float(), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)  # (m, k)
        weight = (sim / temperature).exp()
        votes = torch.zeros(len(q), num_classes, device=device)
        votes.scatter_add_(1, bank_labels[idx], weight)
        scores.append(votes)
    return torch.cat(scores).cpu()


def knn_top1(train_features, train_labels, test_features, test_labels, num_classes, k=200, temperature=0.1,
             device=None) -> float:
    """Top-1 accuracy of :func:`knn_predict` (``device``: where to compute it)."""
    scores = knn_predict(train_features, train_labels, test_features, num_classes, k, temperature, device=device)
    return (scores.argmax(1) == test_labels.cpu()).float().mean().item()


def linear_probe(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    num_classes: int,
    epochs: int = 100,
    lr: float = 1e-2,
    weight_decay: float = 1e-4,
    batch_size: int = 1024,
    seed: int = 0,
) -> dict:
    """Train a linear classifier on frozen, standardised features; return train and test top-1.

    Adam with a cosine schedule on mini-batches of the precomputed features: seconds on a CPU.
    Returns ``{"train_top1", "test_top1", "predictions"}``.
    """
    gen = torch.Generator().manual_seed(seed)
    mean, std = train_features.mean(0), train_features.std(0).clamp_min(1e-6)
    xtr, xte = (train_features - mean) / std, (test_features - mean) / std
    torch.manual_seed(seed)
    clf = nn.Linear(xtr.shape[1], num_classes)
    opt = torch.optim.Adam(clf.parameters(), lr=lr, weight_decay=weight_decay)
    steps = epochs * ((len(xtr) + batch_size - 1) // batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    for _ in range(epochs):
        perm = torch.randperm(len(xtr), generator=gen)
        for start in range(0, len(xtr), batch_size):
            idx = perm[start : start + batch_size]
            loss = F.cross_entropy(clf(xtr[idx]), train_labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    with torch.no_grad():
        train_acc = (clf(xtr).argmax(1) == train_labels).float().mean().item()
        pred = clf(xte).argmax(1)
    return {"train_top1": train_acc, "test_top1": (pred == test_labels).float().mean().item(), "predictions": pred}


def group_accuracy(predictions: torch.Tensor, labels: torch.Tensor, attrs: torch.Tensor) -> dict:
    """Accuracy by group on a biased data set (groups are (label, shortcut attribute) pairs).

    Returns ``unbiased_acc`` (all samples: on a test split whose attribute is independent of the
    label, this is the unbiased accuracy), ``bias_aligned_acc`` (attribute = label),
    ``bias_conflicting_acc`` (attribute != label), ``worst_group_acc`` (the lowest accuracy of a
    group with samples), ``worst_class_conflicting_acc`` (the lowest accuracy, over the labels, on a
    label's bias-conflicting samples: 10 groups of ~900 on Colored MNIST's test set, where the
    100-group minimum is about 100 samples per group), ``min_group_size`` (the fewest samples of a
    group) and ``group_acc``, a ``(num_labels, num_attrs)`` table (NaN: no sample).

    Why the 100-group minimum was always 0 on a biased evaluation: a group whose true accuracy is
    ``p`` scores 0 with probability ``(1 - p)^n`` on ``n`` samples (13 % at ``p = 0.02``, ``n = 100``),
    and the minimum over 90 such groups is then 0 almost surely. It can move only where each group
    has enough samples and the accuracies are not near 0 (see :data:`MIN_GROUP_SIZE`).
    """
    if not (predictions.shape == labels.shape == attrs.shape and labels.dim() == 1):
        raise ValueError(f"predictions, labels and attrs must all have shape (N,), got "
                         f"{tuple(predictions.shape)}, {tuple(labels.shape)}, {tuple(attrs.shape)}")
    correct = (predictions == labels).float()
    aligned = labels == attrs
    n_labels, n_attrs = int(labels.max()) + 1, int(attrs.max()) + 1
    group = labels * n_attrs + attrs
    hits = torch.zeros(n_labels * n_attrs).scatter_add_(0, group, correct)
    count = torch.zeros(n_labels * n_attrs).scatter_add_(0, group, torch.ones_like(correct))
    table = (hits / count).view(n_labels, n_attrs)  # NaN where a group is empty

    def mean(mask):
        return correct[mask].mean().item() if mask.any() else float("nan")
    per_class = [mean(~aligned & (labels == c)) for c in range(n_labels)]
    per_class = [v for v in per_class if v == v]  # labels with bias-conflicting samples
    present = count[count > 0]
    return {"unbiased_acc": correct.mean().item(), "bias_aligned_acc": mean(aligned),
            "bias_conflicting_acc": mean(~aligned), "worst_group_acc": table[count.view_as(table) > 0].min().item(),
            "worst_class_conflicting_acc": min(per_class) if per_class else float("nan"),
            "min_group_size": int(present.min().item()), "group_acc": table}


# The 100-group minimum is reported under the unbiased evaluation only where every group has at least
# this many test samples: a group at true accuracy 0.1 then scores 0 with probability 0.9^50 = 0.5 %.
MIN_GROUP_SIZE = 50


def alignment(z1: torch.Tensor, z2: torch.Tensor, alpha: float = 2.0) -> float:
    """Wang & Isola (ICML 2020): ``E ||f(x) - f(x+)||^alpha`` over positive pairs of normalised rows
    (lower is better)."""
    z1, z2 = F.normalize(z1.float(), dim=1), F.normalize(z2.float(), dim=1)
    return (z1 - z2).norm(dim=1).pow(alpha).mean().item()


def uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """Wang & Isola (ICML 2020): ``log E exp(-t ||f(x) - f(y)||^2)`` over distinct pairs of normalised
    rows (lower is more uniform)."""
    z = F.normalize(z.float(), dim=1)
    sq = torch.pdist(z).pow(2)
    return (torch.logsumexp(-t * sq, dim=0) - torch.log(torch.tensor(float(len(sq))))).item()


# The names under which group figures are reported (results JSON, tables), per evaluator: the
# kNN classifier and the linear probe. Keys of :func:`group_accuracy` → reported names.
GROUP_KEYS = {
    "knn": {"unbiased_acc": "knn_top1", "bias_conflicting_acc": "bias_conflicting_acc",
            "bias_aligned_acc": "bias_aligned_acc", "worst_group_acc": "worst_group_acc",
            "worst_class_conflicting_acc": "worst_class_conflicting_acc"},
    "probe": {"unbiased_acc": "linear_top1", "bias_conflicting_acc": "linear_bias_conflicting_acc",
              "worst_group_acc": "linear_worst_group_acc",
              "worst_class_conflicting_acc": "linear_worst_class_conflicting_acc"},
}


def group_report(predictions: torch.Tensor, labels: torch.Tensor, attrs: torch.Tensor, evaluator: str = "knn",
                 suffix: str = "", min_group_size: int | None = None) -> dict:
    """:func:`group_accuracy` under the reported names of ``evaluator`` (``"knn"`` or ``"probe"``),
    each followed by ``suffix`` (e.g. ``"[unbiased bank]"``). With ``min_group_size``, the worst
    group is left out unless every group has at least that many samples (where it cannot move)."""
    if evaluator not in GROUP_KEYS:
        raise ValueError(f"unknown evaluator {evaluator!r}: choose one of {tuple(GROUP_KEYS)}")
    g = group_accuracy(predictions, labels, attrs)
    out = {name + suffix: g[key] for key, name in GROUP_KEYS[evaluator].items()}
    if min_group_size is not None and g["min_group_size"] < min_group_size:
        del out[GROUP_KEYS[evaluator]["worst_group_acc"] + suffix]
    return out


def knn_monitor(data, views, n_bank: int | None = None, n_query: int | None = None,
                k: int = 200, temperature: float = 0.1, device=None) -> Callable[[nn.Module], dict]:
    """A monitor that reports weighted-kNN top-1 of ``model.encoder`` on (a part of) the test set,
    with (a part of) the training set as the bank."""
    xb, yb = data.x_train[:n_bank], data.y_train[:n_bank]
    xq, yq = data.x_test[:n_query], data.y_test[:n_query]

    def monitor(model):
        fb = embed(model.encoder, xb, views.plain, device=device)
        fq = embed(model.encoder, xq, views.plain, device=device)
        return {"knn_top1": knn_top1(fb, yb, fq, yq, data.num_classes, k, temperature, device=device)}

    return monitor
