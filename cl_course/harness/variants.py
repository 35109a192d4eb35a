"""The comparison every notebook makes: several objectives trained from the same initialisation on
the same batches and views for the same number of steps, each evaluated, next to the untrained
encoder (the floor every trained variant must clear)."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from ..train import History

UNTRAINED = "untrained"
START = "start"   # the encoder a fine-tuning comparison starts from


@dataclass
class ProbeBatch:
    """A batch of test images to look at: indices into the test set, the images on the training
    device, labels, shortcut attributes (biased data only) and, once projected, ``z1``/``z2``."""

    idx: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor
    attrs: torch.Tensor | None = None
    z1: torch.Tensor | None = None
    z2: torch.Tensor | None = None


@dataclass
class Comparison:
    """What :meth:`Session.compare` returns: per variant its evaluation (``results``, with the
    untrained encoder under ``"untrained"``), training history, trained model and objective."""

    epochs: float
    results: dict[str, dict] = field(default_factory=dict)
    histories: dict[str, History] = field(default_factory=dict)
    models: dict[str, nn.Module] = field(default_factory=dict)
    objectives: dict = field(default_factory=dict)

    start: object = None  # the TrainedEncoder every variant was fine-tuned from, if any
    loaded: list[str] = field(default_factory=list)  # variants loaded from the cache or a checkpoint, not trained here

    @property
    def trained(self) -> list[str]:
        """The names of the compared variants (every result but the untrained encoder's and the start's)."""
        return [n for n in self.results if n not in (UNTRAINED, START)]

    def metrics(self, keys=("knn_top1",)) -> dict:
        """The figures flattened for the results JSON: ``{"<key>[<variant>]": value}``."""
        return {f"{key}[{name}]": r[key] for key in keys for name, r in self.results.items() if key in r}

    def assert_learned(self, metric: str = "knn_top1", margin: float = 0.05) -> None:
        """Stop with an ``AssertionError`` unless every trained variant beats the untrained encoder
        on ``metric`` by at least ``margin``: a broken objective, or one that did not learn, fails."""
        floor = self.results[UNTRAINED][metric]
        short = {n: self.results[n][metric] for n in self.trained if not self.results[n][metric] >= floor + margin}
        if short:
            raise AssertionError(
                f"{', '.join(f'{n} ({v:.3f})' for n, v in short.items())} did not beat the untrained encoder "
                f"({floor:.3f}) by {margin} on {metric}: the training did not learn")

    def table(self, keys=("knn_top1", "linear_top1")) -> str:
        """A text table, one row per variant (the untrained encoder first)."""
        width = max(len("variant"), *(len(n) for n in self.results))
        keys = [k for k in keys if any(k in r for r in self.results.values())]
        lines = [f"{'variant':>{width}}  " + "  ".join(f"{k:>12}" for k in keys)]
        for name, r in self.results.items():
            lines.append(f"{name:>{width}}  " + "  ".join(f"{r[k]:12.3f}" if k in r else f"{'-':>12}" for k in keys))
        return "\n".join(lines)


def step_cost(history: History) -> dict:
    """``{"epoch_time_s": ...}``: the median training time of an epoch (steps only: no monitor, no
    checkpoint; the median leaves out a first epoch slowed by compilation). Notebook 08 compares it
    with SimCLR's in the same run as the cost of a step. Empty without timed epochs."""
    times = sorted(t for t in history.column("time_s") if t is not None)
    if not times:
        return {}
    mid = len(times) // 2
    return {"epoch_time_s": times[mid] if len(times) % 2 else (times[mid - 1] + times[mid]) / 2}


def run_variants(session, variants: dict, *, epochs: float, groups: bool, probe: bool, monitor: bool,
                 untrained: dict | None, start=None, start_result: dict | None = None) -> Comparison:
    """Train (or load from the cache) and evaluate each variant (see :meth:`Session.compare`)."""
    from .encoders import obtain

    comparison = Comparison(epochs=epochs, start=start)

    def evaluate(model):
        return session.evaluate_groups(model, probe=probe) if groups else session.evaluate(model, probe=probe)

    comparison.results[UNTRAINED] = untrained if untrained is not None else evaluate(session.model())
    if start is not None:
        comparison.results[START] = start_result if start_result is not None else evaluate(start.model)
    for name, objective in variants.items():
        print(f"--- {name}" + (" (fine-tuned from the start)" if start is not None else ""), flush=True)
        trained = obtain(session, objective, epochs, start=start, monitor=monitor)
        comparison.histories[name] = trained.history
        if trained.loaded:
            comparison.loaded.append(name)
        comparison.results[name] = {**evaluate(trained.model), **step_cost(trained.history)}
        comparison.models[name] = trained.model
        comparison.objectives[name] = objective
    return comparison
