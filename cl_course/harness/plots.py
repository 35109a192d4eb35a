"""Figures of the course: training curves, augmented views, similarity distributions, embedding
maps, sweeps, grouped bars (with seed error bars), heat maps.

One theme is set when this module is imported (:func:`set_theme`). Statistical figures are drawn
with seaborn from long pandas tables; axes and legends are in words (:mod:`.labels`), epochs are
integers, reference lines (chance, the untrained encoder, a base rate) carry a legend entry, and a
series that is 0 everywhere is left out and named in the title instead.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
import torch
from matplotlib.ticker import MaxNLocator

from ..train import History
from .labels import ACCURACY_UNIT, is_accuracy, label

PALETTE = "colorblind"
REFERENCE_STYLES = [{"color": "0.15", "ls": "--"}, {"color": "0.45", "ls": ":"}, {"color": "0.3", "ls": "-."},
                    {"color": "0.6", "ls": (0, (5, 1))}]
_THEMED = False


def set_theme(force: bool = False) -> None:
    """The course's look (seaborn's whitegrid, colour-blind palette, compact fonts); set once."""
    global _THEMED
    if _THEMED and not force:
        return
    sns.set_theme(context="notebook", style="whitegrid", palette=PALETTE, font_scale=0.85,
                  rc={"figure.dpi": 100, "axes.titlesize": 10, "legend.fontsize": 8, "legend.title_fontsize": 8,
                      "axes.spines.top": False, "axes.spines.right": False})
    _THEMED = True


set_theme()


# --- helpers --------------------------------------------------------------------------------
def _references(ax, references: Mapping[str, float] | None, vertical: bool = False) -> None:
    """Reference lines with a legend entry each (``{label: value}``); None values are skipped."""
    for k, (name, value) in enumerate((references or {}).items()):
        if value is None:
            continue
        style = REFERENCE_STYLES[k % len(REFERENCE_STYLES)]
        line = (ax.axvline if vertical else ax.axhline)(float(value), lw=1.1, label=name, zorder=1.5, **style)
        line.set_gid("reference")


def _legend(ax, **kw) -> None:
    """The data's entries first, then the reference lines'."""
    pairs = list(zip(*ax.get_legend_handles_labels()))
    pairs.sort(key=lambda hl: getattr(hl[0], "get_gid", lambda: None)() == "reference")
    handles, labels = [h for h, _ in pairs], [lab for _, lab in pairs]
    if handles:
        ax.legend(handles, labels, **kw)


def _all_zero(values) -> bool:
    vals = [v for v in np.ravel(np.asarray(values, dtype=float)) if not np.isnan(v)]
    return bool(vals) and all(v == 0 for v in vals)


def _left_out(names: list[str]) -> str:
    return f"0 everywhere, not drawn: {', '.join(names)}" if names else ""


def _title(*parts: str) -> str:
    return "\n".join(p for p in parts if p)


def _accuracy_ylim(ax, values, references: Mapping[str, float] | None = None, horizontal: bool = False) -> None:
    """Accuracy axes start at 0 (a bar's height is its value) and end a little above the largest
    value or reference, never above 1: a 0.01 difference is neither blown up nor squashed flat."""
    vals = [float(v) for v in np.ravel(np.asarray(values, dtype=float)) if not np.isnan(v)]
    vals += [float(v) for v in (references or {}).values() if v is not None]
    top = max(vals, default=1.0)
    (ax.set_xlim if horizontal else ax.set_ylim)(0, min(1.0, top * 1.15 + 0.02))


def _ylabel(keys: Sequence[str]) -> str:
    keys = list(keys)
    if len(keys) == 1:
        return label(keys[0])
    if keys and all(is_accuracy(k) for k in keys):
        return f"accuracy ({ACCURACY_UNIT})"
    return ""


# --- training curves ------------------------------------------------------------------------
def plot_history(histories: Mapping[str, History] | History, keys=("loss", "knn_top1"), *,
                 references: Mapping[str, Mapping[str, float]] | None = None):
    """Loss and kNN accuracy per epoch, one line per named run (integer epochs). ``references``:
    per key, reference lines ``{label: value}`` (e.g. ``{"knn_top1": {"untrained encoder": 0.31}}``).
    A key no run recorded gets no panel."""
    if isinstance(histories, History):
        histories = {"": histories}
    rows = [{"run": name, "epoch": e.get("epoch"), "key": key, "value": e.get(key)}
            for key in keys for name, h in histories.items() for e in h.epochs]
    frame = pd.DataFrame(rows, columns=["run", "epoch", "key", "value"]).dropna(subset=["value"])
    shown = [k for k in keys if (frame["key"] == k).any()] or list(keys[:1])
    fig, axes = plt.subplots(1, len(shown), figsize=(4.8 * len(shown), 3.4), squeeze=False)
    names = list(histories)
    for ax, key in zip(axes[0], shown):
        part = frame[frame["key"] == key]
        for name, color in zip(names, sns.color_palette(PALETTE, max(1, len(names)))):
            run = part[part["run"] == name]
            if len(run):
                sns.lineplot(data=run, x="epoch", y="value", marker="o", color=color, label=name or None, ax=ax,
                             legend=False)
                ax.get_lines()[-1].set_label(name or "_nolegend_")
        _references(ax, (references or {}).get(key))
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xlabel("epoch")
        ax.set_ylabel(label(key))
        if is_accuracy(key):
            _accuracy_ylim(ax, part["value"], (references or {}).get(key))
        _legend(ax, fontsize=8)
    fig.tight_layout()
    return fig


# --- images ---------------------------------------------------------------------------------
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


# --- distributions --------------------------------------------------------------------------
def distributions(groups: Mapping[str, object], xlabel: str, *, title: str = "", bins: int = 40,
                  binrange: tuple[float, float] | None = None, references: Mapping[str, float] | None = None,
                  log_scale: bool = False, ax=None):
    """Overlaid density histograms, one per named group (tensors, arrays or lists), each labelled
    with its count; empty groups are skipped. ``references``: vertical lines ``{label: x}`` (e.g.
    ``{"1/C": 0.1}``). Replaces the hand-built ``ax.hist`` cells (shares of negatives, DCL's
    denominators, WCL's weights)."""
    if ax is None:
        fig, ax = plt.subplots(figsize=(6, 3.5))
    fig = ax.figure
    colors = sns.color_palette(PALETTE, max(1, len(groups)))
    for (name, values), color in zip(groups.items(), colors):
        v = values.detach().float().cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values, float)
        v = v.ravel()
        if len(v):
            sns.histplot(x=v, bins=bins, binrange=binrange, stat="density", element="step", alpha=0.3,
                         color=color, label=f"{name} (n={len(v)})", log_scale=log_scale, ax=ax)
    _references(ax, references, vertical=True)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("density")
    ax.set_title(title)
    _legend(ax, fontsize=8)
    fig.tight_layout()
    return fig


def similarity_histograms(groups: Mapping[str, torch.Tensor], title: str = "", bins: int = 60, *,
                          references: Mapping[str, float] | None = None):
    """Overlaid density histograms of cosine similarities (e.g. from ``diagnostics.pair_similarities``)."""
    return distributions(groups, "cosine similarity to the anchor", title=title, bins=bins, binrange=(-1, 1),
                         references=references)


def embedding_map(features: torch.Tensor, labels: torch.Tensor, classes, method: str = "tsne",
                  max_points: int = 2000, seed: int = 0, title: str = ""):
    """A 2-D map of features (t-SNE or PCA of a random subset), coloured by class."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    if method not in ("tsne", "pca"):
        raise ValueError(f"unknown method {method!r}: choose 'tsne' or 'pca'")
    gen = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(features), generator=gen)[:max_points]
    f = torch.nn.functional.normalize(features[idx].float(), dim=1).numpy()
    y = labels[idx].numpy()
    if method == "tsne":
        xy = TSNE(2, init="pca", perplexity=min(30, len(f) // 4), random_state=seed).fit_transform(f)
    else:
        xy = PCA(2, random_state=seed).fit_transform(f)
    names = [str(c) for c in classes]
    frame = pd.DataFrame({"x": xy[:, 0], "y": xy[:, 1], "class": pd.Categorical([names[int(c)] for c in y], names)})
    fig, ax = plt.subplots(figsize=(6, 5))
    palette = "tab10" if len(names) <= 10 else "husl"
    sns.scatterplot(data=frame, x="x", y="y", hue="class", palette=palette, s=6, linewidth=0, ax=ax)
    ax.legend(title="class", markerscale=2, fontsize=7, loc="center left", bbox_to_anchor=(1, 0.5))
    ax.set(xticks=[], yticks=[], xlabel=f"{method.upper()} 1", ylabel=f"{method.upper()} 2")
    ax.set_title(title or f"{method.upper()} of the encoder features (test images)")
    fig.tight_layout()
    return fig


# --- sweeps and curves ----------------------------------------------------------------------
def plot_sweep(values, metrics: Mapping[str, list], xlabel: str, title: str = "", *, ylabel: str | None = None,
               references: Mapping[str, float] | None = None, x_references: Mapping[str, float] | None = None,
               xscale: str | None = None, ax=None):
    """A metric (or several) against the swept knob. Each entry of a series is a number or a list
    (one per seed): seaborn draws the mean and a band of ± 1 std. Series named by metric key get
    their words (:mod:`.labels`); a series that is 0 everywhere is left out (named in the title);
    ``references``: horizontal lines ``{label: y}`` (the untrained encoder, SimCLR, chance);
    ``x_references``: vertical ones ``{label: x}`` (e.g. ``{"1/C": 0.1}`` on a τ⁺ axis)."""
    rows, zero = [], []
    for name, ys in metrics.items():
        if _all_zero([np.mean(y) if np.ndim(y) else y for y in ys]):
            zero.append(label(name, short=True))
            continue
        for x, y in zip(values, ys):
            for v in (np.ravel(y) if np.ndim(y) else [y]):
                rows.append({"x": x, "series": label(name, short=True), "value": float(v)})
    frame = pd.DataFrame(rows, columns=["x", "series", "value"])
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.4, 3.6))
    fig = ax.figure
    series = list(dict.fromkeys(frame["series"]))
    for name, color in zip(series, sns.color_palette(PALETTE, max(1, len(series)))):
        sns.lineplot(data=frame[frame["series"] == name], x="x", y="value", marker="o", errorbar="sd",
                     color=color, ax=ax, legend=False)
        ax.get_lines()[-1].set_label(name)
    _references(ax, references)
    _references(ax, x_references, vertical=True)
    if xscale:
        ax.set_xscale(xscale)
    ax.set_xlabel(xlabel)
    keys = [k for k in metrics if label(k, short=True) in series]
    ax.set_ylabel(ylabel if ylabel is not None else _ylabel(keys))
    if keys and all(is_accuracy(k) for k in keys):
        _accuracy_ylim(ax, frame["value"], references)
    ax.set_title(_title(title, _left_out(zero)))
    _legend(ax, fontsize=8)
    fig.tight_layout()
    return fig


# --- bars -----------------------------------------------------------------------------------
def _long(results: Mapping[str, Mapping[str, object]], keys) -> tuple[pd.DataFrame, list[str]]:
    """``{variant: {key: value or [values per seed]}}`` → long table; all-zero keys left out."""
    rows, zero = [], []
    for key in keys:
        vals = [results[n].get(key) for n in results if results[n].get(key) is not None]
        if not vals:
            continue
        if _all_zero([np.mean(v) for v in vals]):
            zero.append(label(key, short=True))
            continue
        for name, r in results.items():
            v = r.get(key)
            for x in (np.ravel(v) if v is not None and np.ndim(v) else [v]):
                rows.append({"variant": name, "metric": label(key, short=True), "key": key,
                             "value": np.nan if x is None else float(x)})
    return pd.DataFrame(rows, columns=["variant", "metric", "key", "value"]), zero


def bars(frame: pd.DataFrame, *, x: str = "variant", y: str = "value", hue: str | None = "metric",
         ylabel: str = "", title: str = "", chance: float | None = None,
         references: Mapping[str, float] | None = None, values: bool = True, dodge: bool = True,
         accuracy: bool | None = None, horizontal: bool | None = None, ax=None):
    """Grouped bars from a long table: the mean per (x, hue), with a ± 1 std error bar where
    there are several rows (seeds); each bar labelled with its mean; ``chance`` and ``references``
    as dashed lines with legend entries. ``accuracy`` (default: every ``key`` of the table is an
    accuracy) starts the value axis at 0 and ends it just above the tallest bar. ``dodge=False``
    colours the bars by ``hue`` without grouping them (e.g. by notebook). ``horizontal`` (default:
    more than 8 bars): one bar per line, the names readable at the left; ``ylabel`` then names
    the horizontal value axis."""
    refs = {**({"chance": chance} if chance is not None else {}), **(references or {})}
    n_x = frame[x].nunique() if len(frame) else 1
    n_h = frame[hue].nunique() if hue and len(frame) else 1
    n_bars = n_x * (max(1, n_h) if dodge else 1)
    horizontal = n_bars > 8 if horizontal is None else horizontal
    if ax is None:
        size = (8, min(16, 1.2 + 0.26 * n_bars + 0.1 * n_x)) if horizontal else \
            (min(14, 1.6 + 0.55 * n_bars + 0.4 * n_x), 3.8)
        fig, ax = plt.subplots(figsize=size)
    fig = ax.figure
    several = len(frame) and frame.groupby([x] + ([hue] if hue else [])).size().max() > 1
    axes_kw = {"x": y, "y": x, "orient": "h"} if horizontal else {"x": x, "y": y}
    sns.barplot(data=frame, **axes_kw, hue=hue, errorbar="sd" if several else None, capsize=0.15 if several else 0,
                palette=PALETTE if hue else None, legend=False, dodge=dodge, ax=ax, err_kws={"linewidth": 1})
    if hue:
        for container, name in zip(ax.containers, list(dict.fromkeys(frame[hue]))):
            container.set_label(name)
    if values:
        for container in ax.containers:
            ax.bar_label(container, fmt="%.3f", fontsize=6.5, padding=2,
                         rotation=90 if not horizontal and n_bars > 12 else 0)
    _references(ax, refs, vertical=horizontal)
    (ax.set_ylabel if horizontal else ax.set_xlabel)("")
    (ax.set_xlabel if horizontal else ax.set_ylabel)(ylabel)
    if not horizontal and n_x > 4:
        plt.setp(ax.get_xticklabels(), rotation=25, ha="right", rotation_mode="anchor")
    ax.tick_params(labelsize=8)
    if accuracy is None:
        accuracy = len(frame) > 0 and "key" in frame and bool(frame["key"].map(is_accuracy).all())
    if horizontal:
        ax.margins(x=0.08)  # room for the value labels, also of negative bars
    if accuracy:
        hi = frame.groupby([x] + ([hue] if hue else []))[y].agg(lambda s: s.mean() + (s.std() if len(s) > 1 else 0))
        _accuracy_ylim(ax, hi.to_numpy(), refs, horizontal=horizontal)
    ax.set_title(title)
    _legend(ax, fontsize=7, loc="upper left", bbox_to_anchor=(1, 1))
    fig.tight_layout()
    return fig


def group_accuracy_bars(results: Mapping[str, dict], keys=("knn_top1", "bias_conflicting_acc", "worst_group_acc"),
                        title: str = "test accuracy (colour independent of the label)", *,
                        chance: float | None = None, references: Mapping[str, float] | None = None):
    """Grouped bars: for every variant, its unbiased, bias-conflicting and worst-group accuracy
    (a value may be a list, one per seed: then a ± 1 std error bar). A metric that is 0 for every
    variant is left out and named in the title."""
    frame, zero = _long(results, keys)
    return bars(frame, ylabel=f"accuracy ({ACCURACY_UNIT})", title=_title(title, _left_out(zero)), chance=chance,
                references=references)


def comparison_bars(comparison, keys=("knn_top1", "linear_top1"), *, title: str = "", chance: float | None = None,
                    references: Mapping[str, float] | None = None):
    """The bars notebooks 03–05 build by hand: every variant of a :class:`~.variants.Comparison`
    (or its ``results`` dict), the untrained encoder first, on ``keys`` (kNN and probe accuracy by
    default). The title says the budget when a Comparison is given."""
    results = getattr(comparison, "results", comparison)
    epochs = getattr(comparison, "epochs", None)
    frame, zero = _long(results, keys)
    budget = f"same budget: {epochs} epoch{'s' if epochs != 1 else ''} per variant" if epochs else ""
    return bars(frame, ylabel=_ylabel(keys) or "value", title=_title(title, budget, _left_out(zero)), chance=chance,
                references=references)


def heatmap(matrix, rows: Sequence[str], columns: Sequence[str], *, title: str = "", value_label: str = "",
            row_label: str = "", column_label: str = "", fmt: str = ".2f", center: float | None = None, ax=None):
    """A matrix where the matrix is the point (e.g. where WCL or HCL put their weight, by the
    anchor's and the negative's colour or digit): one annotated cell per entry, a labelled colour bar."""
    data = matrix.detach().float().cpu().numpy() if isinstance(matrix, torch.Tensor) else np.asarray(matrix, float)
    frame = pd.DataFrame(data, index=list(rows), columns=list(columns))
    if ax is None:
        fig, ax = plt.subplots(figsize=(1.2 + 0.55 * len(columns), 0.8 + 0.45 * len(rows)))
    fig = ax.figure
    sns.heatmap(frame, annot=len(rows) * len(columns) <= 400, fmt=fmt, annot_kws={"fontsize": 7},
                cmap="vlag" if center is not None else "mako", center=center, cbar_kws={"label": value_label}, ax=ax)
    ax.set_xlabel(column_label)
    ax.set_ylabel(row_label)
    ax.set_title(title)
    fig.tight_layout()
    return fig


def group_heatmaps(tables: Mapping[str, object], rows: Sequence[str], columns: Sequence[str], *, ncols: int = 3,
                   title: str = "", row_label: str = "digit", column_label: str = "colour"):
    """One (label × shortcut attribute) accuracy table per encoder (e.g. ``group_acc[unbiased bank]`` of
    :meth:`Session.evaluate_groups`), side by side on one colour scale from 0 to 1: a colour reader
    lights up the diagonal (bias-aligned groups) only, a shape reader the whole table."""
    names = list(tables)
    nrows = (len(names) + ncols - 1) // ncols
    fig, axes = plt.subplots(nrows, min(ncols, len(names)), squeeze=False,
                             figsize=(4.6 * min(ncols, len(names)), 3.9 * nrows))
    for ax, name in zip(axes.flat, names):
        data = tables[name]
        data = data.detach().float().cpu().numpy() if isinstance(data, torch.Tensor) else np.asarray(data, float)
        sns.heatmap(pd.DataFrame(data, index=list(rows), columns=list(columns)), vmin=0, vmax=1, cmap="mako",
                    annot=False, cbar=ax is axes.flat[len(names) - 1], cbar_kws={"label": "accuracy"}, ax=ax)
        diagonal = np.nanmean(np.diag(data)) if data.shape[0] == data.shape[1] else float("nan")
        off = np.nanmean(data[~np.eye(*data.shape, dtype=bool)])
        ax.set_title(f"{name}\naligned {diagonal:.2f}, conflicting {off:.2f}", fontsize=9)
        ax.set_xlabel(column_label)
        ax.set_ylabel(row_label)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


# --- the mechanism (notebook 01) ------------------------------------------------------------
def pipeline_diagram(*, encoder: str = "", head: str = "", loss: str = "NT-Xent", ax=None):
    """SimCLR's pipeline in boxes and arrows: an image ``x``, two random views, the shared encoder
    ``f`` giving the features ``h``, the projection head ``g`` giving ``z``, and the loss on the
    two ``z``. ``encoder`` / ``head``: a line under each box (e.g. its parameter count). Brackets
    under the diagram say which output evaluation reads (``h``) and which the loss and the
    similarity diagnostics read (``z``)."""
    from matplotlib.patches import FancyBboxPatch

    if ax is None:
        fig, ax = plt.subplots(figsize=(10.5, 3.6))
    fig = ax.figure
    ax.set_xlim(0, 10.5)
    ax.set_ylim(-0.35, 3.6)
    ax.axis("off")
    colors = sns.color_palette(PALETTE, 6)

    def box(x, y, text, color, w=1.25, h=0.62, sub=""):
        patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0.04,rounding_size=0.08",
                               fc=(*color, 0.25), ec=color, lw=1.3)
        patch.set_gid("box")
        ax.add_patch(patch)
        ax.text(x, y, text, ha="center", va="center", fontsize=9)
        if sub:
            ax.text(x, y - h / 2 - 0.1, sub, ha="center", va="top", fontsize=7, color="0.3")

    def arrow(x0, y0, x1, y1, text=""):
        ann = ax.annotate("", xy=(x1, y1), xytext=(x0, y0), arrowprops={"arrowstyle": "->", "lw": 1.1, "color": "0.25"})
        ann.set_gid("arrow")
        if text:
            ax.text((x0 + x1) / 2, (y0 + y1) / 2 + 0.12, text, ha="center", va="bottom", fontsize=7.5, color="0.3")

    top, bottom, mid = 2.75, 1.35, 2.05
    xs = {"x": 0.7, "view": 2.35, "f": 4.05, "h": 5.55, "g": 7.0, "z": 8.4, "loss": 9.75}
    box(xs["x"], mid, "image x", colors[0], w=1.0)
    for y, k in ((top, 1), (bottom, 2)):
        arrow(xs["x"] + 0.5, mid, xs["view"] - 0.62, y)
        box(xs["view"], y, f"x̃{'₁' if k == 1 else '₂'} = view(x)", colors[1], w=1.3)
        arrow(xs["view"] + 0.65, y, xs["f"] - 0.65, y)
        box(xs["f"], y, "encoder f", colors[2], sub=encoder if k == 2 else "")
        arrow(xs["f"] + 0.65, y, xs["h"] - 0.32, y)
        box(xs["h"], y, f"h{'₁' if k == 1 else '₂'}", colors[3], w=0.6)
        arrow(xs["h"] + 0.32, y, xs["g"] - 0.65, y)
        box(xs["g"], y, "projection\nhead g", colors[4], h=0.72, sub=head if k == 2 else "")
        arrow(xs["g"] + 0.65, y, xs["z"] - 0.32, y)
        box(xs["z"], y, f"z{'₁' if k == 1 else '₂'}", colors[5], w=0.6)
        arrow(xs["z"] + 0.32, y, xs["loss"] - 0.6, mid)
    box(xs["loss"], mid, loss, colors[0], w=1.15)
    ax.text(xs["view"] - 0.5, mid, "two random\nviews", ha="center", va="center", fontsize=7.5, color="0.3", style="italic")
    ax.text((xs["f"] + xs["f"]) / 2, mid, "same weights", ha="center", va="center", fontsize=7.5, color="0.3",
            style="italic")
    ax.text(xs["g"], mid, "same weights", ha="center", va="center", fontsize=7.5, color="0.3", style="italic")
    for x, text in ((xs["h"], "h: kNN, linear probe\n(what is kept)"),
                    (xs["z"], "z: the loss, similarities,\nalignment / uniformity")):
        ax.text(x, 0.05, text, ha="center", va="bottom", fontsize=7.5,
                bbox={"boxstyle": "round,pad=0.25", "fc": "white", "ec": "0.6", "lw": 0.8})
        ax.plot([x, x], [0.55, bottom - 0.33], color="0.6", lw=0.8, ls=":")
    ax.set_title("SimCLR: two views of one image through the same encoder and head; the head is dropped after training")
    fig.tight_layout()
    return fig


def similarity_heatmap(z1, z2, labels, *, title: str = "", ax=None, classes: Sequence[str] | None = None):
    """The ``2n × 2n`` cosine-similarity matrix of ``[z1; z2]`` (``n`` images, two views each, rows
    and columns sorted by class so that same-class blocks are visible), the diagonal (an anchor with
    itself) blank. Each anchor's positive is marked with a ring (gid ``"positive"``), its same-class
    negatives with a dot (gid ``"same-class negative"``); the colour scale runs from -1 to 1.
    Labels are for analysis only."""
    z = torch.nn.functional.normalize(torch.cat([torch.as_tensor(z1), torch.as_tensor(z2)]).detach().float().cpu(), dim=1)
    y = torch.as_tensor(labels).cpu()
    n = len(y)
    if z.shape[0] != 2 * n:
        raise ValueError(f"z1 and z2 must have one row per label ({n}), got {tuple(z1.shape)} and {tuple(z2.shape)}")
    image = torch.cat([torch.arange(n), torch.arange(n)])
    view = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    yy = torch.cat([y, y])
    order = sorted(range(2 * n), key=lambda i: (int(yy[i]), int(image[i]), int(view[i])))
    order = torch.tensor(order)
    sim = (z @ z.T)[order][:, order].numpy()
    img, yo = image[order], yy[order]
    np.fill_diagonal(sim, np.nan)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.6, 4.8))
    fig = ax.figure
    mesh = ax.imshow(sim, cmap="vlag", vmin=-1, vmax=1, interpolation="nearest")
    fig.colorbar(mesh, ax=ax, fraction=0.046, pad=0.03, label="cosine similarity of z")
    eye = torch.eye(2 * n, dtype=torch.bool)
    positive = (img[:, None] == img[None, :]) & ~eye
    same = (yo[:, None] == yo[None, :]) & ~eye & ~positive
    r, c = np.nonzero(positive.numpy())
    ax.scatter(c, r, s=22, facecolors="none", edgecolors="black", linewidths=1.0, label="positive (other view)",
               gid="positive")
    r, c = np.nonzero(same.numpy())
    ax.scatter(c, r, s=4, color="black", label="same-class negative", gid="same-class negative")
    names = [str(classes[int(v)]) if classes is not None else str(int(v)) for v in yo]
    ax.set_xticks(range(2 * n))
    ax.set_yticks(range(2 * n))
    ax.set_xticklabels(names, fontsize=5, rotation=90)
    ax.set_yticklabels(names, fontsize=5)
    ax.set_xlabel("negative or positive (class; sorted by class)")
    ax.set_ylabel("anchor (class)")
    ax.grid(False)
    ax.set_title(title or f"{n} images, two views each")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(0, -0.14), ncol=2, frameon=False)
    fig.tight_layout()
    return fig
