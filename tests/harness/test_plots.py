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


def data_lines(ax):
    """The lines that draw data or references (not seaborn's empty legend handles)."""
    return [line for line in ax.get_lines() if len(line.get_xdata())]


def test_the_course_theme_is_set_once_on_import():
    import matplotlib as mpl

    assert plots._THEMED and mpl.rcParams["axes.grid"]  # seaborn's whitegrid
    mpl.rcParams["axes.grid"] = False
    plots.set_theme()  # a second call changes nothing
    assert not mpl.rcParams["axes.grid"]
    plots.set_theme(force=True)
    assert mpl.rcParams["axes.grid"]


def test_labels_put_metric_keys_into_words_in_one_place():
    from cl_course.harness.labels import label

    assert label("knn_top1") == "kNN top-1 accuracy (fraction of test images)"
    assert label("bias_conflicting_acc", short=True) == "kNN bias-conflicting"
    assert label("worst_group_acc[simclr]") == "kNN worst group: simclr"
    assert label("something_new") == "something_new"


def test_plot_history_draws_one_line_per_run_and_metric_with_integer_epochs_and_words():
    h = History(epochs=[{"epoch": e, "loss": 5.0 - e, "knn_top1": 0.1 * e} for e in (1, 2, 3)])
    fig = plots.plot_history({"a": h, "b": h}, references={"knn_top1": {"untrained encoder": 0.05}})
    assert [len(data_lines(ax)) for ax in fig.axes] == [2, 3]
    assert list(data_lines(fig.axes[0])[0].get_ydata()) == [4.0, 3.0, 2.0]
    assert fig.axes[1].get_ylabel() == "kNN top-1 accuracy (fraction of test images)"
    assert all(float(t).is_integer() for t in fig.axes[0].get_xticks())
    assert [t.get_text() for t in fig.axes[1].get_legend().get_texts()] == ["a", "b", "untrained encoder"]
    assert fig.axes[1].get_ylim()[0] == 0


def test_plot_history_leaves_out_a_metric_no_run_recorded():
    h = History(epochs=[{"epoch": e, "loss": 5.0 - e} for e in (1, 2)])
    fig = plots.plot_history(h)
    assert len(fig.axes) == 1 and fig.axes[0].get_legend() is None


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
    assert list(data_lines(fig.axes[0])[0].get_xdata()) == [0.1, 0.5, 1.0]
    results = {"simclr": {"knn_top1": 0.5, "bias_conflicting_acc": 0.2, "worst_group_acc": 0.0},
               "patch": {"knn_top1": 0.6, "bias_conflicting_acc": 0.3, "worst_group_acc": 0.1}}
    fig = plots.group_accuracy_bars(results, chance=0.1)
    ax = fig.axes[0]
    assert sum(len(c) for c in ax.containers) == 2 * 3
    assert sorted(round(b.get_height(), 3) for c in ax.containers for b in c) == [0.0, 0.1, 0.2, 0.3, 0.5, 0.6]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["kNN top-1", "kNN bias-conflicting", "kNN worst group", "chance"]
    assert ax.get_ylabel() == "accuracy (fraction of test images)" and ax.get_ylim()[0] == 0


def test_a_sweep_with_seeds_draws_the_mean_and_a_band_and_leaves_out_an_all_zero_series():
    metrics = {"knn_top1": [[0.40, 0.44], [0.50, 0.52]], "worst_group_acc": [[0.0, 0.0], [0.0, 0.0]]}
    fig = plots.plot_sweep([1, 2], metrics, xlabel="alpha", title="patch negatives", references={"SimCLR": 0.3},
                           x_references={"1/C": 1.5})
    ax = fig.axes[0]
    lines = data_lines(ax)
    assert list(lines[0].get_ydata()) == pytest.approx([0.42, 0.51])
    assert len(ax.collections) == 1  # the ± 1 std band of the one series drawn
    assert "0 everywhere, not drawn: kNN worst group" in ax.get_title()
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["kNN top-1", "SimCLR", "1/C"]
    assert ax.get_ylabel() == "kNN top-1 accuracy (fraction of test images)"


def test_group_bars_with_seeds_have_error_bars_and_leave_out_an_all_zero_metric():
    results = {"simclr": {"knn_top1": [0.5, 0.52], "worst_group_acc": [0.0, 0.0]},
               "hcl": {"knn_top1": [0.6, 0.64], "worst_group_acc": [0.0, 0.0]}}
    fig = plots.group_accuracy_bars(results)
    ax = fig.axes[0]
    assert sorted(round(b.get_height(), 2) for c in ax.containers for b in c) == [0.51, 0.62]
    assert len(ax.get_lines()) >= 2  # one error bar per bar
    assert "kNN worst group" in ax.get_title()


def test_comparison_bars_name_the_budget_and_keep_the_untrained_encoder_first():
    from cl_course.harness.variants import Comparison

    c = Comparison(epochs=3, results={"untrained": {"knn_top1": 0.3, "linear_top1": 0.35},
                                      "simclr": {"knn_top1": 0.5, "linear_top1": 0.55}})
    fig = plots.comparison_bars(c, chance=0.1)
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["untrained", "simclr"]
    assert "3 epochs per variant" in ax.get_title()


def test_distributions_draw_reference_lines_with_a_legend_entry():
    fig = plots.distributions({"shares": [0.1, 0.12, 0.09]}, "share of negatives with the anchor's class",
                              references={"1/C": 0.1})
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels == ["shares (n=3)", "1/C"]


def test_heatmap_shows_every_cell_with_its_labels():
    fig = plots.heatmap([[1.0, 2.0], [3.0, 4.0]], ["red", "green"], ["0", "1"], value_label="mean weight")
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.texts] == ["1.00", "2.00", "3.00", "4.00"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["red", "green"]
    assert fig.axes[1].get_ylabel() == "mean weight"


def test_embedding_map_places_every_point_and_refuses_an_unknown_method():
    feats, labels = torch.randn(60, 8), torch.arange(60) % 3
    fig = plots.embedding_map(feats, labels, ["a", "b", "c"], method="pca")
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 60
    with pytest.raises(ValueError, match="unknown method 'umap'"):
        plots.embedding_map(feats, labels, ["a", "b", "c"], method="umap")


def test_group_heatmaps_draw_one_table_per_encoder_on_one_scale():
    tables = {"colour reader": torch.eye(10), "shape reader": torch.full((10, 10), 0.9), "half": torch.rand(10, 10)}
    fig = plots.group_heatmaps(tables, [str(d) for d in range(10)], [f"c{c}" for c in range(10)], ncols=2)
    titled = [ax.get_title() for ax in fig.axes if ax.get_title()]
    assert len(titled) == 3 and "aligned 1.00, conflicting 0.00" in titled[0]
    assert "conflicting 0.90" in titled[1]
    meshes = [ax.collections[0] for ax in fig.axes if ax.get_title()]
    assert all(m.get_clim() == (0, 1) for m in meshes)
    plt.close(fig)


def test_many_bars_lie_horizontally_with_their_names_readable_and_the_reference_vertical():
    import pandas as pd

    frame = pd.DataFrame({"variant": [f"v{i}" for i in range(10)], "value": [0.01 * i - 0.02 for i in range(10)]})
    fig = plots.bars(frame, hue=None, ylabel="kNN top-1 minus SimCLR's", references={"SimCLR": 0.0})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == [f"v{i}" for i in range(10)]
    assert ax.get_xlabel() == "kNN top-1 minus SimCLR's"
    assert list(data_lines(ax)[-1].get_xdata()) == [0.0, 0.0]  # a vertical line at 0
    assert ax.get_xlim()[0] < -0.02  # a negative gain is shown, not cut at 0


def test_pipeline_diagram_draws_the_views_encoder_head_and_loss_with_arrows():
    fig = plots.pipeline_diagram(encoder="small_cnn, 1,000 parameters", head="MLP, 10 parameters")
    ax = fig.axes[0]
    texts = " ".join(t.get_text() for t in ax.texts)
    for word in ("image x", "encoder f", "projection\nhead g", "NT-Xent", "kNN", "small_cnn, 1,000 parameters",
                 "MLP, 10 parameters"):
        assert word in texts
    assert sum(p.get_gid() == "box" for p in ax.patches) == 12  # x, 2 x (view, f, h, g, z), the loss
    assert sum(getattr(a, "get_gid", lambda: None)() == "arrow" for a in ax.texts) == 12
    plt.close(fig)


def test_similarity_heatmap_marks_every_positive_and_each_same_class_negative():
    import numpy as np

    z1 = torch.randn(6, 8)
    labels = torch.tensor([0, 1, 0, 2, 1, 0])
    fig = plots.similarity_heatmap(z1, z1 + 0.01 * torch.randn(6, 8), labels)
    ax = fig.axes[0]
    marks = {c.get_gid(): len(c.get_offsets()) for c in ax.collections}
    assert marks["positive"] == 12  # each of the 2n anchors has one positive
    # class 0: 3 images, 6 rows, each with 4 same-class negatives; class 1: 2 images, 4 rows with 2 each
    assert marks["same-class negative"] == 6 * 4 + 4 * 2
    sim = ax.images[0].get_array()
    assert np.ma.getmaskarray(np.diag(sim)).all() and ax.images[0].get_clim() == (-1, 1)
    # rows sorted by class; the two views of an image are adjacent and nearly identical
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0"] * 6 + ["1"] * 4 + ["2"] * 2
    assert sim[0, 1] > 0.99
    with pytest.raises(ValueError, match="one row per label"):
        plots.similarity_heatmap(z1, z1, labels[:5])
    plt.close(fig)
