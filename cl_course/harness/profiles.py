"""Profiles (sizes for ci / cpu / gpu) and the resolution and checking of a notebook's parameters.

A notebook's parameters cell holds its knobs with ``None`` meaning "the profile's value"; any
explicit value overrides the profile (docs/architecture.md). :func:`resolve` returns the complete
configuration or raises :class:`ConfigError` saying what to change.
"""
from __future__ import annotations

import math
import os

from ..data import DATASETS
from ..negatives import check_patch_sizes
from ..shortcuts import BIASED_DATASETS, check_rho

PROFILE_NAMES = ("ci", "cpu", "gpu", "auto")

# Every size knob a notebook may override, with its value per profile. epochs: notebook 01's SimCLR,
# the shared start of 03-05; compare_epochs: each variant of a comparison from scratch;
# finetune_epochs: each variant fine-tuned from the shared start (04, 05); sweep_epochs: each run of a sweep.
PROFILES: dict[str, dict] = {
    # scikit-learn digits (ships with the package): seconds, a smoke test of the whole notebook.
    "ci": dict(
        dataset="digits", n_train=None, n_test=None, encoder="small_cnn", width=16, stages=2,
        stem_stride=1, image_size=16, crop_scale=0.3, epochs=4, batch_size=128, lr=3e-3,
        weight_decay=1e-4, optimizer="adamw", warmup_epochs=0.5, temperature=0.5,
        sweep_epochs=2, compare_epochs=2, finetune_epochs=2, knn_k=50, monitor_bank=None, monitor_queries=None, probe_epochs=30,
    ),
    # CIFAR-10 on a 2-core laptop CPU: a width-64 CNN (stages of 64, 128, 256 channels) trained on 24-px
    # views, about 26 s an epoch on 2 cores with bf16 instructions (cl_course.precision; 38 s in float32).
    # 20 epochs reach kNN 0.60 in about 9 minutes there (README). Width 32 stops near 0.59 however long
    # it trains; 32-px views cost 2x and gave no better kNN at equal epochs. Batch 256 is the authors':
    # DCL's clamp, FNC's recall bound and the ring's ranks depend on the in-batch negatives.
    "cpu": dict(
        dataset="cifar10", n_train=None, n_test=None, encoder="small_cnn", width=64, stages=3,
        stem_stride=2, image_size=24, crop_scale=0.2, epochs=20, batch_size=256, lr=3e-3,
        weight_decay=1e-4, optimizer="adamw", warmup_epochs=0.5, temperature=0.2,
        sweep_epochs=1, compare_epochs=2, finetune_epochs=1, knn_k=200, monitor_bank=10000, monitor_queries=2000, probe_epochs=30,
    ),
    # (compare_epochs is used by notebook 03 only in this family: four variants from scratch at 2 epochs
    # and six 1-epoch runs; the whole notebook takes about 7 min at width 64 in bf16 on the course machine,
    # 17-25 min at width 64 in float32 on an older, slower one.)
    # CIFAR-10, ResNet-18 on one GPU: the real run (recipe of the HCL/DCL authors' code). Epochs from
    # the measured GPU check (README): a 50,000-image epoch takes 1.7 s (SimCLR) to 4 s (WCL) eager on
    # an H200, so every notebook's projected whole run is at most ~15 min there (30 min is the budget).
    "gpu": dict(
        dataset="cifar10", n_train=None, n_test=None, encoder="resnet18", width=64, stages=3,
        stem_stride=2, image_size=32, crop_scale=0.08, epochs=150, batch_size=512, lr=1e-3,
        weight_decay=1e-6, optimizer="adamw", warmup_epochs=1.0, temperature=0.5,
        sweep_epochs=15, compare_epochs=40, finetune_epochs=10, knn_k=200, monitor_bank=None, monitor_queries=None, probe_epochs=100,
    ),
}

# Notebooks 06-07 (shortcuts) change these knobs of the profile: a biased data set with a known
# colour shortcut (cl_course.shortcuts), its bias strength rho, and the patch sizes (pixels) of the
# non-semantic negatives (each must divide image_size; one is drawn per step), and the learning rate
# of WCL's biased encoder (None: the same as lr).
SHORTCUT_PROFILES: dict[str, dict] = {
    # scikit-learn digits painted in colour (no network, no data copy): seconds.
    "ci": dict(dataset="colored_digits", rho=0.99, crop_scale=0.5, compare_epochs=2, patch_sizes=(4, 8),
               biased_lr=None),
    # Colored MNIST on 2 CPU cores: a 30,000-image class-balanced subset of the training set (about 30
    # bias-conflicting images per digit at rho = 0.99; the 10,000 test images, coloured independently of
    # the digit, are all kept: about 100 per group). 3 epochs = 351 steps per variant (a SimCLR step
    # takes about 0.2 s on 2 idle cores; 3x the steps of the earlier 10,000-image profile). lr 1e-3, the
    # recipe of 06-07's measured runs: CIFAR-10's 3e-3 was chosen for a different data set and budget.
    "cpu": dict(dataset="colored_mnist", rho=0.99, n_train=30000, width=32, image_size=28, crop_scale=0.3,
                lr=1e-3, epochs=4, compare_epochs=3, monitor_bank=10000, monitor_queries=2000, patch_sizes=(4, 7),
                biased_lr=None),
    # CIFAR-10 with a class-correlated colour tint, ResNet-18 (ran on an H200 in the GPU check, on a subset).
    "gpu": dict(dataset="tinted_cifar10", rho=0.99, compare_epochs=40, patch_sizes=(8, 16), biased_lr=None),
}
FAMILIES = ("contrastive", "shortcut")

# Where a value has a range, the check and the message.
_POSITIVE_INT = ("epochs", "width", "stages", "stem_stride", "image_size", "sweep_epochs", "compare_epochs",
                 "finetune_epochs", "knn_k",
                 "probe_epochs")


class ConfigError(ValueError):
    """A parameter is unknown or out of range; the message says what to change."""


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def check(cfg: dict) -> None:
    """Raise :class:`ConfigError` for the first parameter out of range."""
    def bad(name, need):
        raise ConfigError(f"{name}={cfg[name]!r} is invalid: {need}. Change it in the parameters cell (or -p {name} ...).")

    if cfg["dataset"] not in DATASETS + tuple(BIASED_DATASETS):
        bad("dataset", f"choose one of {', '.join(DATASETS + tuple(BIASED_DATASETS))}")
    if "rho" in cfg:  # the shortcut family (notebooks 06-07)
        _check_shortcut(cfg, bad)
    if not (isinstance(cfg["batch_size"], int) and cfg["batch_size"] >= 2):
        bad("batch_size", "it must be an integer >= 2, since every anchor needs at least one negative")
    if not (_is_number(cfg["temperature"]) and cfg["temperature"] > 0):
        bad("temperature", "it must be a number > 0 (0.1 to 1 is the usual range)")
    if not (_is_number(cfg["lr"]) and cfg["lr"] > 0):
        bad("lr", "it must be a number > 0")
    if not (_is_number(cfg["weight_decay"]) and cfg["weight_decay"] >= 0):
        bad("weight_decay", "it must be a number >= 0")
    if not (_is_number(cfg["crop_scale"]) and 0 < cfg["crop_scale"] <= 1):
        bad("crop_scale", "it is the smallest crop's share of the image area, in (0, 1]")
    if not (_is_number(cfg["warmup_epochs"]) and cfg["warmup_epochs"] >= 0):
        bad("warmup_epochs", "it must be a number >= 0")
    for name in _POSITIVE_INT:
        if not (isinstance(cfg[name], int) and not isinstance(cfg[name], bool) and cfg[name] >= 1):
            bad(name, "it must be an integer >= 1")
    for name in ("n_train", "n_test", "monitor_bank", "monitor_queries"):
        v = cfg[name]
        if v is not None and not (isinstance(v, int) and v >= 1):
            bad(name, "it must be None (all) or an integer >= 1")
    if cfg["n_train"] is not None and cfg["n_train"] < cfg["batch_size"]:
        bad("n_train", f"it must be at least batch_size ({cfg['batch_size']})")
    if cfg["optimizer"] not in ("adamw", "sgd"):
        bad("optimizer", "choose 'adamw' or 'sgd'")
    if cfg["encoder"] not in ("small_cnn", "resnet18"):
        bad("encoder", "choose 'small_cnn' or 'resnet18'")


def _check_shortcut(cfg: dict, bad) -> None:
    """The shortcut family's knobs: a biased data set, rho in (0, 1], patch sizes dividing the image
    (normalised to a tuple of ints)."""
    fix = "Change it in the parameters cell (or -p {} ...)."
    try:
        check_rho(cfg["rho"])  # its message names the value and the range
    except ValueError as exc:
        raise ConfigError(f"{exc}. {fix.format('rho')}") from None
    try:
        cfg["patch_sizes"] = check_patch_sizes(cfg["patch_sizes"], cfg["image_size"])
    except ValueError as exc:
        raise ConfigError(f"patch_sizes={cfg['patch_sizes']!r} is invalid: {exc}. {fix.format('patch_sizes')}") from None
    if cfg["biased_lr"] is not None and not (_is_number(cfg["biased_lr"]) and cfg["biased_lr"] > 0):
        bad("biased_lr", "the biased encoder's learning rate must be a number > 0, or None for lr")
    if cfg["dataset"] not in BIASED_DATASETS:
        bad("dataset", f"a notebook on shortcuts needs a biased data set: choose one of {', '.join(BIASED_DATASETS)}")


def requested_profile(profile: str | None) -> str:
    """``profile`` if given, else ``$CL_COURSE_PROFILE``, else ``"auto"``; checked."""
    name = profile if profile is not None else os.environ.get("CL_COURSE_PROFILE", "auto")
    if name not in PROFILE_NAMES:
        raise ConfigError(
            f"unknown profile {name!r}: choose one of {', '.join(PROFILE_NAMES)} "
            "('ci' for a seconds-long check, 'cpu' for a laptop, 'gpu' for the full run, 'auto' to pick)")
    return name


def resolve(profile: str, overrides: dict | None = None, family: str = "contrastive") -> dict:
    """The profile's values with every non-``None`` override applied, checked.

    ``profile`` must already be concrete (``ci``, ``cpu`` or ``gpu``); ``family="shortcut"`` applies
    :data:`SHORTCUT_PROFILES` (notebooks 06-07) on top of it.
    """
    if profile not in PROFILES:
        raise ConfigError(f"unknown profile {profile!r}: choose one of {', '.join(PROFILES)}")
    if family not in FAMILIES:
        raise ConfigError(f"unknown notebook family {family!r}: choose one of {', '.join(FAMILIES)}")
    cfg = dict(PROFILES[profile])
    if family == "shortcut":
        cfg.update(SHORTCUT_PROFILES[profile])
    for key, value in (overrides or {}).items():
        if key not in cfg:
            raise ConfigError(f"unknown parameter {key!r}: the known ones are {', '.join(sorted(cfg))}")
        if value is not None:
            cfg[key] = value
    check(cfg)
    return cfg
