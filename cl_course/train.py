"""One training loop for every method of the course: it knows nothing about the loss.

The loop takes an *objective* (:mod:`cl_course.objectives`): any callable
``objective(model, images, labels, gen) -> loss``. One with ``set_step(step, total)`` is told the
global step before each call (schedules); one with ``end_epoch()`` adds that dict to each epoch's
record (e.g. detection statistics).

Reproducibility: the epoch's shuffle is drawn from ``(seed, epoch)`` and each step's
augmentation from ``(seed, step)``, and the learning rate is a function of the step, so a run
resumed from an epoch checkpoint continues exactly as the uninterrupted run would.
"""
from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn


class NonFiniteLossError(FloatingPointError):
    """The loss became NaN or infinite: the run stops instead of training on garbage."""


@dataclass
class History:
    """Per-epoch records: ``{"epoch", "loss", "lr", "time_s", ...monitor metrics}``."""

    epochs: list[dict] = field(default_factory=list)

    def column(self, key: str) -> list:
        return [e.get(key) for e in self.epochs]

    @property
    def last(self) -> dict:
        return self.epochs[-1] if self.epochs else {}


def quiet_default() -> bool:
    """Progress bars off under CI and the course runner (one line per epoch instead)."""
    return bool(os.environ.get("CI")) or bool(os.environ.get("CL_COURSE_QUIET"))


def learning_rate(step: int, total: int, base_lr: float, warmup: int) -> float:
    """Linear warm-up for ``warmup`` steps, then cosine decay to 0 at ``total``."""
    if step < warmup:
        return base_lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return base_lr * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, name: str, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """``"adamw"`` or ``"sgd"`` (momentum 0.9, nesterov); no weight decay on BN and biases.

    A model with an ``lr_scales`` dict (submodule name → factor) trains those submodules at
    ``factor × lr`` (the group's ``lr_scale``; :func:`fit` applies the schedule to each group).
    """
    scales = getattr(model, "lr_scales", {})
    groups = []
    for scale_name, scale in [(None, 1.0), *scales.items()]:
        if scale_name is None:
            taken = {id(p) for n in scales for p in getattr(model, n).parameters()}
            params = [p for p in model.parameters() if id(p) not in taken]
        else:
            params = list(getattr(model, scale_name).parameters())
        groups += [{"params": [p for p in params if p.ndim > 1], "weight_decay": weight_decay, "lr_scale": scale},
                   {"params": [p for p in params if p.ndim <= 1], "weight_decay": 0.0, "lr_scale": scale}]
    if name == "adamw":
        return torch.optim.AdamW(groups, lr=lr)
    if name == "sgd":
        return torch.optim.SGD(groups, lr=lr, momentum=0.9, nesterov=True)
    raise ValueError(f"unknown optimizer {name!r}: choose 'adamw' or 'sgd'")


def _save_atomic(state: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(state, tmp)
    tmp.replace(path)


def fit(
    model: nn.Module,
    objective: Callable,
    images: torch.Tensor,
    labels: torch.Tensor | None = None,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    weight_decay: float = 1e-4,
    optimizer: str = "adamw",
    warmup_epochs: float = 1.0,
    seed: int = 0,
    device: torch.device | str = "cpu",
    monitor: Callable[[nn.Module], dict] | None = None,
    checkpoint: str | os.PathLike | None = None,
    resume: bool = True,
    quiet: bool | None = None,
    stop_after_epochs: int | None = None,
) -> History:
    """Train ``model`` on ``images`` (uint8 ``(N, C, H, W)``) with ``objective``; return the history.

    Args:
        monitor: called with the model after every epoch; its dict is added to the epoch record
            (e.g. ``{"knn_top1": ...}``).
        checkpoint: file for model/optimizer state after every epoch; with ``resume`` an existing
            one is loaded (``weights_only=True``) and training continues after its last epoch.
        stop_after_epochs: stop (as if interrupted) after this many epochs of this call.

    The model is kept in channels_last memory; on CUDA the step runs under bf16 autocast.

    Raises:
        ValueError: bad sizes or rates. NonFiniteLossError: the loss became NaN/inf.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2 (contrastive losses need negatives), got {batch_size}")
    if batch_size > len(images):
        raise ValueError(f"batch_size {batch_size} is larger than the training set ({len(images)} images)")
    if epochs < 1:
        raise ValueError(f"epochs must be >= 1, got {epochs}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    device = torch.device(device)
    quiet = quiet_default() if quiet is None else quiet
    # channels_last pays on GPUs (tensor cores) and on CPUs (oneDNN convolutions: ~1.5x here).
    model.to(device, memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        images = images.to(device)
        labels = labels.to(device) if labels is not None else None
    opt = make_optimizer(model, optimizer, lr, weight_decay)
    steps_per_epoch = len(images) // batch_size
    total, warmup = epochs * steps_per_epoch, int(warmup_epochs * steps_per_epoch)
    history, start_epoch = History(), 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    if ckpt is not None and resume and ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history.epochs = list(state["history"])
        start_epoch = int(state["epoch"])
        if not quiet:
            print(f"resumed from {ckpt} after epoch {start_epoch}")
    gen = torch.Generator(device=device)
    from tqdm.auto import tqdm

    model.train()
    for epoch in range(start_epoch, epochs):
        if stop_after_epochs is not None and epoch - start_epoch >= stop_after_epochs:
            break
        t0 = time.perf_counter()
        order = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        order = order.to(images.device)
        total_loss = torch.zeros((), device=device)
        bar = tqdm(range(steps_per_epoch), desc=f"epoch {epoch + 1}/{epochs}", disable=quiet, leave=False)
        for i in bar:
            step = epoch * steps_per_epoch + i
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, total, lr, warmup) * group.get("lr_scale", 1.0)
            idx = order[i * batch_size : (i + 1) * batch_size]
            gen.manual_seed(seed * 1_000_003 + step)
            if hasattr(objective, "set_step"):  # schedules inside an objective (e.g. an annealed ring)
                objective.set_step(step, total)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda"):
                loss = objective(model, images[idx], labels[idx] if labels is not None else None, gen)
            if not torch.isfinite(loss):
                raise NonFiniteLossError(
                    f"the loss became {loss.item()} at step {step} (epoch {epoch + 1}, batch {i + 1}); "
                    "lower the learning rate or raise the temperature")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total_loss += loss.detach()
            if not quiet and i % 10 == 0:
                bar.set_postfix(loss=f"{loss.item():.3f}")
        record = {"epoch": epoch + 1, "loss": total_loss.item() / steps_per_epoch,
                  "lr": opt.param_groups[0]["lr"], "time_s": time.perf_counter() - t0}
        if hasattr(objective, "end_epoch"):
            record.update(objective.end_epoch())
        if monitor is not None:
            record.update(monitor(model))
            model.train()
        history.epochs.append(record)
        print("epoch {epoch}/{n}: ".format(epoch=epoch + 1, n=epochs)
              + ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch"), flush=True)
        if ckpt is not None:
            _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(),
                          "epoch": epoch + 1, "history": history.epochs}, ckpt)
    model.eval()
    return history
