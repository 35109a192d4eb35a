"""Figures of the course: training curves, augmented views, similarity histograms, embedding maps."""
from __future__ import annotations

from typing import Mapping

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..train import History


def plot_history(histories: Mapping[str, History] | History, keys=("loss", "knn_top1")):
    """Loss and kNN accuracy per epoch, one line per named run."""
    if isinstance(histories, History):
        histories = {"": histories}
    fig, axes = plt.subplots(1, len(keys), figsize=(5 * len(keys), 3.5))
    axes = np.atleast_1d(axes)
    for ax, key in zip(axes, keys):
        for name, h in histories.items():
            ys = h.column(key)
            if any(v is not None for v in ys):
                ax.plot(h.column("epoch"), ys, marker="o", label=name or None)
        ax.set_xlabel("epoch")
        ax.set_ylabel(key)
        ax.grid(alpha=0.3)
        if any(histories):
            ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _to_image(x: torch.Tensor) -> np.ndarray:
    """(C, H, W) in [0, 1] → (H, W[, 3]) for imshow."""
    x = x.detach().float().cpu().clamp(0, 1)
    return x[0].numpy() if x.shape[0] == 1 else x.permute(1, 2, 0).numpy()


def show_views(images: torch.Tensor, views, gen: torch.Generator, n_views: int = 4, titles=None):
    """Each image (uint8 ``(N, C, H, W)``) in a row: the original, then ``n_views`` random views."""
    n = len(images)
    fig, axes = plt.subplots(n, n_views + 1, figsize=(1.6 * (n_views + 1), 1.6 * n), squeeze=False)
    on_device = images.to(gen.device)  # the views are drawn where the generator lives (the training device)
    drawn = [views.unnormalize(views(on_device, gen)) for _ in range(n_views)]
    cmap = "gray" if images.shape[1] == 1 else None
    for i in range(n):
        axes[i, 0].imshow(_to_image(images[i].float() / 255), cmap=cmap)
        axes[i, 0].set_title(titles[i] if titles is not None else "original", fontsize=8)
        for j in range(n_views):
            axes[i, j + 1].imshow(_to_image(drawn[j][i]), cmap=cmap)
            axes[i, j + 1].set_title(f"view {j + 1}", fontsize=8)
    for ax in axes.flat:
        ax.axis("off")
    fig.tight_layout()
    return fig


def show_images(images: torch.Tensor, titles=None, ncols: int = 8, size: float = 1.4):
    """A grid of uint8 ``(N, C, H, W)`` or ``[0, 1]`` float images."""
    x = images.float() / 255 if images.dtype == torch.uint8 else images
    n = len(x)
    nrows = (n + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for k, ax in enumerate(axes.flat):
        ax.axis("off")
        if k < n:
            ax.imshow(_to_image(x[k]), cmap="gray" if x.shape[1] == 1 else None)
            if titles is not None:
                ax.set_title(str(titles[k]), fontsize=8)
    fig.tight_layout()
    return fig


def similarity_histograms(groups: Mapping[str, torch.Tensor], title: str = "", bins: int = 60):
    """Overlaid density histograms of cosine similarities (e.g. from ``diagnostics.pair_similarities``)."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for name, values in groups.items():
        v = values.detach().float().cpu().numpy()
        if len(v):
            ax.hist(v, bins=bins, range=(-1, 1), density=True, alpha=0.5, label=f"{name} (n={len(v)})")
    ax.set_xlabel("cosine similarity to the anchor")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def embedding_map(features: torch.Tensor, labels: torch.Tensor, classes, method: str = "tsne",
                  max_points: int = 2000, seed: int = 0, title: str = ""):
    """A 2-D map of features (t-SNE or PCA of a random subset), coloured by class."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(features), generator=gen)[:max_points]
    f = torch.nn.functional.normalize(features[idx].float(), dim=1).numpy()
    y = labels[idx].numpy()
    if method == "tsne":
        xy = TSNE(2, init="pca", perplexity=min(30, len(f) // 4), random_state=seed).fit_transform(f)
    elif method == "pca":
        xy = PCA(2, random_state=seed).fit_transform(f)
    else:
        raise ValueError(f"unknown method {method!r}: choose 'tsne' or 'pca'")
    fig, ax = plt.subplots(figsize=(6, 5))
    cmap = plt.get_cmap("tab10")
    for c, name in enumerate(classes):
        m = y == c
        ax.scatter(xy[m, 0], xy[m, 1], s=4, color=cmap(c % 10), label=str(name))
    ax.legend(markerscale=3, fontsize=7, loc="best")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{method.upper()} of the encoder features")
    fig.tight_layout()
    return fig


def plot_sweep(values, metrics: Mapping[str, list], xlabel: str, title: str = ""):
    """A metric (or several) against the swept knob."""
    fig, ax = plt.subplots(figsize=(5, 3.5))
    for name, ys in metrics.items():
        ax.plot(values, ys, marker="o", label=name)
    ax.set_xlabel(xlabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def group_accuracy_bars(results: Mapping[str, dict], keys=("knn_top1", "bias_conflicting_acc", "worst_group_acc"),
                        title: str = "test accuracy (colour independent of the label)"):
    """Grouped bars: for every variant, its unbiased, bias-conflicting and worst-group accuracy."""
    names = list(results)
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(names), 3.5))
    width = 0.8 / len(keys)
    for j, key in enumerate(keys):
        ax.bar(np.arange(len(names)) + j * width, [results[n].get(key, np.nan) for n in names], width, label=key)
    ax.set_xticks(np.arange(len(names)) + width * (len(keys) - 1) / 2, names, fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig
