"""What every notebook does around its lesson: resolve the parameters, pick the device, load the
data, build models and views, train, evaluate, and write ``output_dir/<notebook>.json``.

A notebook calls :func:`setup` right after its parameters cell; a bad parameter or missing data
stops it there with a message that says what to change.
"""
from __future__ import annotations

import inspect
import json
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..augment import SimCLRViews
from ..data import REAL_DATASETS, DataNotFoundError, ImageDataset, default_data_root, load_dataset
from ..evaluate import embed, group_report, knn_monitor, knn_predict, knn_top1, linear_probe
from ..models import ContrastiveModel, build_model
from ..precision import bf16_default
from ..shortcuts import BIASED_DATASETS, load_biased_dataset, shortcut_views_kwargs
from ..train import CheckpointError, History, fit
from . import encoders, profiles
from .parameters import as_list, check_injected
from .variants import Comparison, ProbeBatch, run_variants

REPO = Path(__file__).resolve().parent.parent.parent


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
    checkpoint: Path | None = None          # -p checkpoint FILE: an encoder to load instead of training
    checkpoint_fingerprint: dict = field(default_factory=dict)
    checkpoint_used: bool = False

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

    def usual_views(self) -> SimCLRViews:
        """SimCLR's usual views at this profile's size and crop scale, colour jitter, grayscale and
        flips included, on every data set: on a biased one they erase the colour shortcut, which
        makes them the reference (the ceiling) of notebooks 06 and 07."""
        return self.views(**{k: getattr(SimCLRViews, k) for k in shortcut_views_kwargs()})

    def model(self, seed: int | None = None) -> ContrastiveModel:
        """A freshly initialised encoder + head of the profile's size (seeded), on the session's device
        (so an untrained model can be evaluated and projected like a trained one)."""
        torch.manual_seed(self.seed if seed is None else seed)
        c = self.cfg
        model = build_model(c["encoder"], self.data.channels, c["width"], c["stages"], 1, c["stem_stride"])
        return model.to(self.device, memory_format=torch.channels_last)

    def generator(self, seed: int | None = None) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.seed if seed is None else seed)

    # --- training and evaluation -----------------------------------------------------------
    def train(self, model, objective, *, epochs: int | None = None, monitor: bool = True,
              checkpoint=None) -> History:
        """Train ``model`` with ``objective`` (:mod:`cl_course.objectives`) for ``epochs`` (the
        profile's by default) with the profile's recipe, reporting kNN accuracy after every epoch
        (``monitor``) and whatever the objective's ``end_epoch`` adds."""
        if inspect.isfunction(objective) or not callable(objective):
            raise TypeError(f"train takes an objective (cl_course.objectives), got {objective!r}; a loss of "
                            "(z1, z2) becomes one with LossObjective(views, loss_fn)")
        c = self.cfg
        views = getattr(objective, "views", None) or self.views()
        knn = knn_monitor(self.data, views, c["monitor_bank"], c["monitor_queries"], k=c["knn_k"],
                          device=self.device) if monitor else None
        return fit(model, objective, self.data.x_train, self.data.y_train, epochs=epochs or c["epochs"],
                   batch_size=c["batch_size"], lr=c["lr"], weight_decay=c["weight_decay"],
                   optimizer=c["optimizer"], warmup_epochs=c["warmup_epochs"], seed=self.seed,
                   device=self.device, monitor=knn, checkpoint=checkpoint,
                   fingerprint={"dataset": self.data.name, "profile": self.profile, "image_size": c["image_size"],
                                "objective": objective.knobs() if hasattr(objective, "knobs") else repr(objective)})

    def compare(self, variants: dict, *, epochs: float | None = None, groups: bool | None = None,
                probe: bool = True, monitor: bool = True, untrained: dict | None = None,
                start: encoders.TrainedEncoder | None = None, start_result: dict | None = None) -> Comparison:
        """Train every objective of ``variants`` (name → objective) from the same initialisation on
        the same batches and views for ``epochs`` (the profile's ``compare_epochs``), evaluate each,
        and the untrained encoder once (``untrained`` reuses an earlier result). With ``start`` (e.g.
        :meth:`shared_start`) every variant is fine-tuned from a copy of that encoder, which is
        evaluated too (row ``"start"``; ``start_result`` reuses an earlier evaluation of it). Each
        trained encoder is cached (:mod:`.encoders`): a rerun with the same settings loads it instead
        of training. ``groups``: the group figures of a biased data
        set (default: on the shortcut notebooks)."""
        groups = self.family == "shortcut" if groups is None else groups
        return run_variants(self, variants, epochs=epochs or self.cfg["compare_epochs"], groups=groups,
                            probe=probe, monitor=monitor, untrained=untrained, start=start, start_result=start_result)

    def shared_start(self, monitor: bool = True) -> encoders.TrainedEncoder:
        """The course's SimCLR encoder for this profile and seed — notebook 01's recipe (the
        profile's temperature and epochs) — from the ``checkpoint`` parameter or the cache when it is
        there (notebook 01 leaves it), else trained now (and cached for the next notebook)."""
        from ..objectives import SimCLRObjective

        simclr = SimCLRObjective(self.views(), temperature=self.cfg["temperature"])
        start = encoders.obtain(self, simclr, self.cfg["epochs"], monitor=monitor)
        print(f"shared start: SimCLR, {self.cfg['epochs']} epochs, t = {self.cfg['temperature']}, seed {self.seed} "
              f"({'loaded from ' + str(start.path) if start.loaded else 'trained here, cached at ' + str(start.path)})")
        return start

    def features(self, model, views: SimCLRViews | None = None, encoder=None) -> dict:
        """Encoder features of the whole train and test sets: ``{"train", "test"}`` (``encoder``
        overrides ``model.encoder``)."""
        views = views or self.views()
        enc = encoder if encoder is not None else model.encoder
        return {split: embed(enc, getattr(self.data, f"x_{split}"), views.plain, device=self.device)
                for split in ("train", "test")}

    def evaluate(self, model, views: SimCLRViews | None = None, probe: bool = True, encoder=None) -> dict:
        """kNN top-1 (and linear-probe top-1) of the encoder on the test set."""
        f = self.features(model, views, encoder)
        d = self.data
        out = {"knn_top1": knn_top1(f["train"], d.y_train, f["test"], d.y_test, d.num_classes, k=self.cfg["knn_k"],
                                    device=self.device)}
        if probe:
            out["linear_top1"] = linear_probe(f["train"], d.y_train, f["test"], d.y_test, d.num_classes,
                                              epochs=self.cfg["probe_epochs"], seed=self.seed)["test_top1"]
        return out

    def evaluate_groups(self, model, views: SimCLRViews | None = None, probe: bool = True,
                        encoder=None, unbiased: bool = True) -> dict:
        """On a biased data set: kNN (and linear-probe) accuracy on the test set, whose shortcut is
        independent of the label, overall, on its bias-conflicting part, for the worst
        (label, attribute) group and for the worst class on its bias-conflicting images (names:
        :data:`cl_course.evaluate.GROUP_KEYS`).

        Two evaluations (``unbiased``: the second too):

        * **biased** (today's names, ``knn_top1``, ``bias_conflicting_acc``, ...): the kNN bank is the
          biased training set and the probe is trained on it, as a downstream user would. Both punish
          any colour left in the features, even when the shape is linearly available.
        * **unbiased** (names ending in ``[unbiased bank]`` for kNN, ``[balanced probe]`` for the
          probe): the same training images recoloured so that colour is independent of the digit
          (:meth:`unbiased_split`) as the kNN bank and as the probe's training set: they measure
          whether the features hold the shape at all. Its ``group_acc[unbiased bank]`` is the
          (label, colour) table of the kNN; its 100-group minimum only where every test group has
          :data:`~cl_course.evaluate.MIN_GROUP_SIZE` images.

        ``encoder`` overrides ``model.encoder``."""
        from ..evaluate import MIN_GROUP_SIZE, group_accuracy
        d = self.data
        if d.attr_test is None:
            raise ValueError(f"{d.name} records no shortcut attribute: group accuracy needs a biased data set")
        f = self.features(model, views, encoder)
        knn = knn_predict(f["train"], d.y_train, f["test"], d.num_classes, k=self.cfg["knn_k"],
                          device=self.device).argmax(1)
        out = group_report(knn, d.y_test, d.attr_test, "knn")
        if probe:
            pred = linear_probe(f["train"], d.y_train, f["test"], d.y_test, d.num_classes,
                                epochs=self.cfg["probe_epochs"], seed=self.seed)["predictions"]
            out.update(group_report(pred, d.y_test, d.attr_test, "probe"))
        if unbiased and d.x_train_source is not None:
            split = self.unbiased_split()
            enc = encoder if encoder is not None else model.encoder
            bank = embed(enc, split.x, (views or self.views()).plain, device=self.device)
            knn = knn_predict(bank, split.y, f["test"], d.num_classes, k=self.cfg["knn_k"], device=self.device).argmax(1)
            out.update(group_report(knn, d.y_test, d.attr_test, "knn", "[unbiased bank]", MIN_GROUP_SIZE))
            out["group_acc[unbiased bank]"] = group_accuracy(knn, d.y_test, d.attr_test)["group_acc"]
            if probe:
                pred = linear_probe(bank, split.y, f["test"], d.y_test, d.num_classes,
                                    epochs=self.cfg["probe_epochs"], seed=self.seed)["predictions"]
                out.update(group_report(pred, d.y_test, d.attr_test, "probe", "[balanced probe]", MIN_GROUP_SIZE))
        return out

    def unbiased_split(self):
        """The training images recoloured with colours independent of the label, every colour equally
        often in each class (:func:`cl_course.shortcuts.unbiased_training_split`, seed 0: the same
        split for every run), made once per session."""
        from ..shortcuts import unbiased_training_split
        if getattr(self, "_unbiased_split", None) is None:
            self._unbiased_split = unbiased_training_split(self.data, seed=0)
        return self._unbiased_split

    def knn_accuracy(self, model, test_images, test_labels, views: SimCLRViews | None = None) -> float:
        """Weighted-kNN top-1 of the encoder on other test images (e.g. altered ones), with the
        training set as the bank."""
        views = views or self.views()
        bank = embed(model.encoder, self.data.x_train, views.plain, device=self.device)
        test = embed(model.encoder, test_images, views.plain, device=self.device)
        pred = knn_predict(bank, self.data.y_train, test, self.data.num_classes, k=self.cfg["knn_k"],
                           device=self.device).argmax(1)
        return (pred == test_labels).float().mean().item()

    # --- a batch to look at --------------------------------------------------------------------
    def probe_batch(self, model=None, views: SimCLRViews | None = None, size: int | None = None) -> ProbeBatch:
        """A batch of ``size`` (the profile's batch size) test images drawn with the run's seed,
        and, with ``model``, the projections of two views of them (:meth:`project`)."""
        size = size or self.cfg["batch_size"]
        idx = torch.randperm(len(self.data.x_test), generator=torch.Generator().manual_seed(self.seed))[:size]
        attrs = self.data.attr_test[idx] if self.data.attr_test is not None else None
        batch = ProbeBatch(idx=idx, x=self.data.x_test[idx].to(self.device), y=self.data.y_test[idx], attrs=attrs)
        if model is not None:
            batch.z1, batch.z2 = self.project(model, batch.x, views)
        return batch

    def project(self, model, images: torch.Tensor, views: SimCLRViews | None = None):
        """``(z1, z2)`` on the CPU: the model's projections (eval mode, no gradient) of two views of
        ``images``, the views drawn from ``seed + 1`` — the same views for every model."""
        views = views or self.views()
        model.eval()
        with torch.no_grad():
            v1, v2 = views.pair(images, self.generator(self.seed + 1))
            return model(v1).float().cpu(), model(v2).float().cpu()

    # --- results -----------------------------------------------------------------------------
    def finish(self, metrics: dict, variants: dict | None = None, methods: dict | None = None,
               claims: dict | None = None) -> Path:
        """Write ``output_dir/<notebook>.json`` (the results contract, docs/architecture.md) and
        return its path: the resolved parameters, the profile, data set, device, wall time, the
        headline ``metrics``, every variant's figures, every method's knobs (``methods``:
        name → objective or knobs dict) and the lecture's claims as this run judged them
        (``claims``: text → shown, from :meth:`cl_course.harness.lecture.Findings.record`)."""
        methods = {name: (m.knobs() if hasattr(m, "knobs") else m) for name, m in (methods or {}).items()}
        if self.checkpoint is not None and self.checkpoint.is_file() and not self.checkpoint_used:
            raise CheckpointError(
                f"the checkpoint {self.checkpoint} ({self.checkpoint_fingerprint.get('method')}, "
                f"{self.checkpoint_fingerprint.get('recipe', {}).get('epochs')} epochs) fits no encoder this notebook "
                "trains: nothing was loaded from it")
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
            "methods": _plain(methods),
            "notes": self.notes,
            "claims": {str(k): bool(v) for k, v in (claims or {}).items()},
            "checkpoint": str(self.checkpoint) if self.checkpoint is not None else None,
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
        return f"cuda: {torch.cuda.get_device_name(device)}" + ("" if bf16_default(device) else ", float32")
    n = torch.get_num_threads()
    bf16 = ", bf16 autocast" if bf16_default(device) else ""  # CPU runs in bf16 and in float32 are told apart
    return f"cpu: {platform.processor() or platform.machine()}, {n} thread{'s' if n != 1 else ''}{bf16}"


def _load(cfg: dict, root: Path) -> ImageDataset:
    if cfg["dataset"] in BIASED_DATASETS:
        return load_biased_dataset(cfg["dataset"], cfg["rho"], root)
    return load_dataset(cfg["dataset"], root)


def _needs_real_data(dataset: str) -> bool:
    return dataset in REAL_DATASETS or BIASED_DATASETS.get(dataset, ("",))[0] in REAL_DATASETS


def setup(notebook: str, profile: str | None = None, seed: int = 0, data_root=None, output_dir=None,
          method_params: dict | None = None, family: str = "contrastive", namespace: dict | None = None,
          checkpoint=None, **overrides) -> Session:
    """Resolve a notebook's parameters and load its data.

    ``profile``: ``"ci"``, ``"cpu"``, ``"gpu"`` or ``"auto"`` (``None``: ``$CL_COURSE_PROFILE``,
    else ``"auto"``). ``"auto"`` picks ``gpu`` with CUDA, else ``cpu``, and falls back to ``ci``
    (saying so) when the real data can be neither found nor downloaded. ``overrides`` are the
    profile's knobs (``epochs``, ``batch_size``, ``temperature``, ...; ``None`` keeps the
    profile's value); ``method_params`` are the notebook's own knobs, recorded in the JSON;
    ``family="shortcut"`` selects the biased data sets of notebooks 06-07 (with their ``rho``).
    ``namespace`` (the notebook's ``globals()``): a parameter that papermill injected but the
    notebook does not have stops here, and list-valued parameters given as a string or a single
    value become lists in it (:mod:`cl_course.harness.parameters`). ``checkpoint``: an encoder file
    (:mod:`cl_course.checkpoints`) loaded instead of training the encoder it fits; one trained with
    another recipe, seed, data set or code stops here; a folder of them is searched for each encoder.

    Raises:
        ConfigError: unknown profile or parameter, or a value out of range.
        DataNotFoundError: an explicit cpu/gpu profile whose data is missing on an offline machine.
        CheckpointError: a ``checkpoint`` that cannot be read or does not fit this run.
    """
    if namespace is not None:
        check_injected(notebook, namespace)
        method_params = {k: namespace.get(k, v) for k, v in (method_params or {}).items()}
    if overrides.get("patch_sizes") is not None:
        overrides["patch_sizes"] = as_list("patch_sizes", overrides["patch_sizes"])
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
    if checkpoint:
        session.checkpoint = Path(checkpoint).expanduser()
        if not session.checkpoint.is_dir():  # a folder is searched per encoder; a file is checked now
            session.checkpoint_fingerprint = encoders.check_checkpoint(session, session.checkpoint)
        session.params["checkpoint"] = str(session.checkpoint)
    print(f"profile {name} | {data!r} | device {describe_device(device)} | output {out}")
    print("configuration: " + ", ".join(f"{k}={v}" for k, v in cfg.items()))
    return session
