"""What every notebook does around its lesson: resolve the parameters, pick the device, load the
data, build models and views, train, evaluate, and write ``output_dir/<notebook>.json``.

A notebook calls :func:`setup` right after its parameters cell; a bad parameter or missing data
stops it there with a message that says what to change.
"""
from __future__ import annotations

import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from . import profiles
from .augment import SimCLRViews
from .data import REAL_DATASETS, DataNotFoundError, ImageDataset, default_data_root, load_dataset
from .evaluate import embed, group_accuracy, knn_predict, knn_top1, linear_probe
from .models import ContrastiveModel, build_model
from .shortcuts import BIASED_DATASETS, load_biased_dataset, shortcut_views_kwargs
from .train import History, ViewPairObjective, fit, knn_monitor

REPO = Path(__file__).resolve().parent.parent


def default_output_dir() -> Path:
    """``$CL_COURSE_OUTPUT`` if set, else ``runs/interactive`` in the project."""
    env = os.environ.get("CL_COURSE_OUTPUT")
    return Path(env).expanduser() if env else REPO / "runs" / "interactive"


@dataclass
class Session:
    """A notebook's run: its configuration, device, data, and the results it reports."""

    notebook: str
    profile: str
    cfg: dict
    seed: int
    device: torch.device
    data: ImageDataset
    output_dir: Path
    params: dict
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    family: str = "contrastive"

    # --- building blocks -------------------------------------------------------------------
    def views(self, **changes) -> SimCLRViews:
        """SimCLR views for this data set and profile (keyword arguments override fields). On the
        biased data sets (``family="shortcut"``) the default views keep the colour shortcut: crops only."""
        kw = dict(size=self.cfg["image_size"], scale=(self.cfg["crop_scale"], 1.0),
                  mean=self.data.mean, std=self.data.std)
        if self.family == "shortcut":
            kw.update(shortcut_views_kwargs())
        kw.update(changes)
        return SimCLRViews(**kw)

    def model(self, seed: int | None = None) -> ContrastiveModel:
        """A freshly initialised encoder + head of the profile's size (seeded)."""
        torch.manual_seed(self.seed if seed is None else seed)
        c = self.cfg
        return build_model(c["encoder"], self.data.channels, c["width"], c["stages"], 1, c["stem_stride"])

    def generator(self, seed: int | None = None) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.seed if seed is None else seed)

    # --- training and evaluation -----------------------------------------------------------
    def train(self, model, loss, views: SimCLRViews | None = None, epochs: int | None = None,
              objective=None, checkpoint=None, monitor: bool = True, pass_labels: bool = False,
              epoch_metrics=None, **loss_kwargs) -> History:
        """Train ``model`` with ``loss(z1, z2, **loss_kwargs)`` on two views (or a custom
        ``objective``) for the profile's epochs, monitoring kNN accuracy every epoch.
        ``pass_labels``: call ``loss(z1, z2, labels, ...)`` (oracles). ``epoch_metrics``: a callable
        whose dict joins each epoch's record (e.g. detection statistics of an objective)."""
        c = self.cfg
        views = views or self.views()
        objective = objective or ViewPairObjective(views, loss, pass_labels=pass_labels, **loss_kwargs)
        knn = knn_monitor(self.data, views, c["monitor_bank"], c["monitor_queries"], k=c["knn_k"],
                          device=self.device) if monitor else None

        def mon(model):
            out = knn(model) if knn is not None else {}
            return {**out, **(epoch_metrics() if epoch_metrics is not None else {})}
        return fit(model, objective, self.data.x_train, self.data.y_train, epochs=epochs or c["epochs"],
                   batch_size=c["batch_size"], lr=c["lr"], weight_decay=c["weight_decay"],
                   optimizer=c["optimizer"], warmup_epochs=c["warmup_epochs"], seed=self.seed,
                   device=self.device, monitor=mon if (knn or epoch_metrics) else None,
                   checkpoint=checkpoint)

    def features(self, model, views: SimCLRViews | None = None, encoder=None) -> dict:
        """Encoder features of the whole train and test sets: ``{"train", "test"}`` (``encoder``
        overrides ``model.encoder``)."""
        views = views or self.views()
        enc = encoder if encoder is not None else model.encoder
        return {split: embed(enc, getattr(self.data, f"x_{split}"), views.plain, device=self.device)
                for split in ("train", "test")}

    def evaluate(self, model, views: SimCLRViews | None = None, probe: bool = True) -> dict:
        """kNN top-1 (and linear-probe top-1) of the encoder on the test set."""
        f = self.features(model, views)
        d = self.data
        out = {"knn_top1": knn_top1(f["train"], d.y_train, f["test"], d.y_test, d.num_classes, k=self.cfg["knn_k"],
                                    device=self.device)}
        if probe:
            out["linear_top1"] = linear_probe(f["train"], d.y_train, f["test"], d.y_test, d.num_classes,
                                              epochs=self.cfg["probe_epochs"], seed=self.seed)["test_top1"]
        return out

    def evaluate_groups(self, model, views: SimCLRViews | None = None, probe: bool = True,
                        encoder=None) -> dict:
        """On a biased data set: kNN (and linear-probe) accuracy on the test set, whose shortcut is
        independent of the label, overall (``knn_top1``), on its bias-conflicting part and for the
        worst (label, attribute) group. The probe is trained on the biased training labels, as a
        downstream user would. ``encoder`` overrides ``model.encoder``."""
        d = self.data
        if d.attr_test is None:
            raise ValueError(f"{d.name} records no shortcut attribute: group accuracy needs a biased data set")
        f = self.features(model, views, encoder)
        knn = knn_predict(f["train"], d.y_train, f["test"], d.num_classes, k=self.cfg["knn_k"],
                          device=self.device).argmax(1)
        g = group_accuracy(knn, d.y_test, d.attr_test)
        out = {"knn_top1": g["unbiased_acc"], "bias_conflicting_acc": g["bias_conflicting_acc"],
               "bias_aligned_acc": g["bias_aligned_acc"], "worst_group_acc": g["worst_group_acc"]}
        if probe:
            pred = linear_probe(f["train"], d.y_train, f["test"], d.y_test, d.num_classes,
                                epochs=self.cfg["probe_epochs"], seed=self.seed)["predictions"]
            g = group_accuracy(pred, d.y_test, d.attr_test)
            out.update(linear_top1=g["unbiased_acc"], linear_bias_conflicting_acc=g["bias_conflicting_acc"],
                       linear_worst_group_acc=g["worst_group_acc"])
        return out

    # --- results -----------------------------------------------------------------------------
    def finish(self, metrics: dict, variants: dict | None = None) -> Path:
        """Write ``output_dir/<notebook>.json`` (DESIGN §4) and return its path."""
        record = {
            "notebook": self.notebook,
            "profile": self.profile,
            "dataset": self.data.name,
            "device": describe_device(self.device),
            "seed": self.seed,
            "wall_time_s": round(time.perf_counter() - self.started, 2),
            "parameters": {**self.params, **self.cfg},
            "metrics": _plain(metrics),
            "variants": _plain(variants or {}),
            "notes": self.notes,
        }
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"{self.notebook}.json"
        path.write_text(json.dumps(record, indent=2))
        print(f"wrote {path}")
        return path


def _plain(obj):
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_plain(v) for v in obj]
    if isinstance(obj, torch.Tensor):
        return obj.item() if obj.numel() == 1 else obj.tolist()
    if hasattr(obj, "item") and callable(obj.item):  # numpy scalars
        return obj.item()
    return obj


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def _load(cfg: dict, root: Path) -> ImageDataset:
    if cfg["dataset"] in BIASED_DATASETS:
        return load_biased_dataset(cfg["dataset"], cfg["rho"], root)
    return load_dataset(cfg["dataset"], root)


def _needs_real_data(dataset: str) -> bool:
    return dataset in REAL_DATASETS or BIASED_DATASETS.get(dataset, ("",))[0] in REAL_DATASETS


def setup(notebook: str, profile: str | None = None, seed: int = 0, data_root=None, output_dir=None,
          method_params: dict | None = None, family: str = "contrastive", **overrides) -> Session:
    """Resolve a notebook's parameters and load its data.

    ``profile``: ``"ci"``, ``"cpu"``, ``"gpu"`` or ``"auto"`` (``None``: ``$CL_COURSE_PROFILE``,
    else ``"auto"``). ``"auto"`` picks ``gpu`` with CUDA, else ``cpu``, and falls back to ``ci``
    (saying so) when the real data can be neither found nor downloaded. ``overrides`` are the
    profile's knobs (``epochs``, ``batch_size``, ``temperature``, ...; ``None`` keeps the
    profile's value); ``method_params`` are the notebook's own knobs, recorded in the JSON;
    ``family="shortcut"`` selects the biased data sets of notebooks 06-07 (with their ``rho``).

    Raises:
        ConfigError: unknown profile or parameter, or a value out of range.
        DataNotFoundError: an explicit cpu/gpu profile whose data is missing on an offline machine.
    """
    requested = profiles.requested_profile(profile)
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise profiles.ConfigError(f"seed={seed!r} is invalid: it must be an integer")
    notes = []
    name = requested
    if requested == "auto":
        name = "gpu" if torch.cuda.is_available() else "cpu"
    cfg = profiles.resolve(name, overrides, family)
    root = Path(data_root).expanduser() if data_root is not None else default_data_root()
    try:
        data = _load(cfg, root)
    except DataNotFoundError as exc:
        if requested != "auto" or not _needs_real_data(cfg["dataset"]):
            raise
        note = (f"profile 'auto' fell back to 'ci': {exc.args[0].split('. Set')[0]}. "
                "Results below are the ci profile's (tiny data, tiny model), not the real experiment.")
        notes.append(note)
        print("NOTE:", note)
        name = "ci"
        ci_overrides = {k: v for k, v in overrides.items() if k != "dataset"}
        cfg = profiles.resolve("ci", ci_overrides, family)
        data = _load(cfg, root)
    data = data.subset(cfg["n_train"], cfg["n_test"], seed=0)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    out = Path(output_dir).expanduser() if output_dir is not None else default_output_dir()
    torch.manual_seed(seed)
    session = Session(notebook=notebook, profile=name, cfg=cfg, seed=seed, device=device, data=data,
                      output_dir=out, params={"requested_profile": requested, "data_root": str(root),
                                              **(method_params or {})}, notes=notes, family=family)
    print(f"profile {name} | {data!r} | device {describe_device(device)} | output {out}")
    print("configuration: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    return session
