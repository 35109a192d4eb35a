"""The course's figures (cl_course.harness.plots): each draws what it is given, with the labels a
reader needs; no figure is compared pixel by pixel."""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from cl_course.augment import SimCLRViews  # noqa: E402
from cl_course.harness import plots  # noqa: E402
from cl_course.train import History  # noqa: E402


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def test_plot_history_draws_one_line_per_run_and_metric():
    h = History(epochs=[{"epoch": e, "loss": 5.0 - e, "knn_top1": 0.1 * e} for e in (1, 2, 3)])
    fig = plots.plot_history({"a": h, "b": h})
    assert [len(ax.get_lines()) for ax in fig.axes] == [2, 2]
    assert list(fig.axes[0].get_lines()[0].get_ydata()) == [4.0, 3.0, 2.0]


def test_show_views_draws_the_original_and_each_view_per_image():
    images = torch.randint(0, 256, (3, 3, 16, 16), dtype=torch.uint8)
    views = SimCLRViews(size=16, mean=(0.5,) * 3, std=(0.25,) * 3)
    fig = plots.show_views(images, views, torch.Generator().manual_seed(0), n_views=4, titles=list("abc"))
    assert len(fig.axes) == 3 * 5 and fig.axes[0].get_title() == "a" and fig.axes[1].get_title() == "view 1"


def test_similarity_histograms_label_each_group_with_its_count_and_skip_empty_ones():
    fig = plots.similarity_histograms({"positive": torch.rand(10), "negative": torch.rand(30), "none": torch.zeros(0)})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["positive (n=10)", "negative (n=30)"]
    assert fig.axes[0].get_xlabel() == "cosine similarity to the anchor"


def test_plot_sweep_and_group_bars_draw_every_value():
    fig = plots.plot_sweep([0.1, 0.5, 1.0], {"kNN top-1": [0.4, 0.5, 0.45]}, xlabel="temperature t")
    assert list(fig.axes[0].get_lines()[0].get_xdata()) == [0.1, 0.5, 1.0]
    results = {"simclr": {"knn_top1": 0.5, "bias_conflicting_acc": 0.2, "worst_group_acc": 0.0},
               "patch": {"knn_top1": 0.6, "bias_conflicting_acc": 0.3, "worst_group_acc": 0.1}}
    fig = plots.group_accuracy_bars(results)
    assert len(fig.axes[0].patches) == 2 * 3


def test_embedding_map_places_every_point_and_refuses_an_unknown_method():
    feats, labels = torch.randn(60, 8), torch.arange(60) % 3
    fig = plots.embedding_map(feats, labels, ["a", "b", "c"], method="pca")
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 60
    with pytest.raises(ValueError, match="unknown method 'umap'"):
        plots.embedding_map(feats, labels, ["a", "b", "c"], method="umap")
