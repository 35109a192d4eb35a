"""The words for the course's metric keys, in one place: axis labels, legends and table headers.

``label("knn_top1")`` is the long form with its unit, for an axis; ``label("knn_top1", short=True)``
the short one, for a legend entry or a table column. A flattened key ``"knn_top1[simclr]"`` reads
``"kNN top-1: simclr"``; a key not listed here is returned as it is.
"""
from __future__ import annotations

ACCURACY_UNIT = "fraction of test images"

# key: (short, long with unit)
METRICS: dict[str, tuple[str, str]] = {
    "knn_top1": ("kNN top-1", f"kNN top-1 accuracy ({ACCURACY_UNIT})"),
    "linear_top1": ("linear probe top-1", f"linear-probe top-1 accuracy ({ACCURACY_UNIT})"),
    "bias_conflicting_acc": ("kNN bias-conflicting", "kNN accuracy on bias-conflicting test images (fraction)"),
    "bias_aligned_acc": ("kNN bias-aligned", "kNN accuracy on bias-aligned test images (fraction)"),
    "worst_group_acc": ("kNN worst group", "kNN accuracy of the worst (label, colour) group (fraction)"),
    "linear_bias_conflicting_acc": ("probe bias-conflicting",
                                    "linear-probe accuracy on bias-conflicting test images (fraction)"),
    "linear_bias_aligned_acc": ("probe bias-aligned", "linear-probe accuracy on bias-aligned test images (fraction)"),
    "linear_worst_group_acc": ("probe worst group", "linear-probe accuracy of the worst group (fraction)"),
    "worst_class_conflicting_acc": ("kNN worst class, conflicting",
                                    "kNN accuracy of the worst class on bias-conflicting images (fraction)"),
    "linear_worst_class_conflicting_acc": ("probe worst class, conflicting",
                                           "linear-probe accuracy of the worst class on bias-conflicting images (fraction)"),
    "detection_precision": ("detection precision", "detection precision (fraction of flagged pairs that are same-class)"),
    "detection_recall": ("detection recall", "detection recall (fraction of same-class pairs flagged)"),
    "cosine_gap": ("cosine gap", "mean cosine: positive minus other-class negative"),
    "loss": ("training loss", "training loss (mean over the epoch's steps)"),
    "lr": ("learning rate", "learning rate"),
    "time_s": ("epoch time", "training time of the epoch (s)"),
    "epoch": ("epoch", "epoch"),
    "wall_time_s": ("wall time (s)", "whole-notebook wall time (s)"),
    "epoch_time_s": ("epoch time (s)", "training time per epoch (s, median)"),
    "step_cost": ("step cost (× SimCLR)", "cost of a training step (× SimCLR's in the same run)"),
    "train_time_s": ("training time (s)", "training time (s)"),
    "alignment": ("alignment", "alignment (mean squared distance of positives; lower = views agree)"),
    "uniformity": ("uniformity", "uniformity (log mean Gaussian potential; lower = spread out)"),
    "contrast_top1": ("contrast top-1", "contrast top-1 (fraction of anchors whose positive is the most similar)"),
    "same_class_negative_share": ("same-class negatives", "fraction of in-batch negatives with the anchor's class"),
}

# the metrics that are accuracies (a fraction of test images in [0, 1]): they share an axis
ACCURACIES = ("knn_top1", "linear_top1", "bias_conflicting_acc", "bias_aligned_acc", "worst_group_acc",
              "linear_bias_conflicting_acc", "linear_bias_aligned_acc", "linear_worst_group_acc",
              "worst_class_conflicting_acc", "linear_worst_class_conflicting_acc")


def label(key: str, short: bool = False) -> str:
    """The words for a metric key (see the module docstring); unknown keys come back unchanged."""
    key = str(key)
    if key.endswith("]") and "[" in key:
        base, variant = key[:-1].split("[", 1)
        return f"{label(base, short=True)}: {variant}"
    words = METRICS.get(key)
    return key if words is None else words[0 if short else 1]


def is_accuracy(key: str) -> bool:
    return str(key).split("[", 1)[0] in ACCURACIES
