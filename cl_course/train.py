"""One training loop for every method of the course: it knows nothing about the loss.

The loop takes an *objective* (:mod:`cl_course.objectives`): any callable
``objective(model, images, labels, gen) -> loss``. One with ``set_step(step, total)`` is told the
global step before each call (schedules); one with ``end_epoch()`` adds that dict to each epoch's
record (e.g. detection statistics).

Reproducibility: the epoch's shuffle is drawn from ``(seed, epoch)`` and each step's
augmentation from ``(seed, step)``, and the learning rate is a function of the step, so a run
resumed from an epoch checkpoint continues exactly as the uninterrupted run would.

Several processes (``shard``, :mod:`cl_course.distributed`): every process draws the same global
batches and views, the model encodes this process's share through DistributedDataParallel, and the
objective's loss sees the global batch; rank 0 prints, shows the bar and writes the checkpoint.
"""
from __future__ import annotations

import math
import os
import pickle
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .distributed import EpochSampler, Shard, ShardedModel
from .precision import autocast, resolve_bf16


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


class _NonFiniteGuard:
    """Watches the loss for NaN/inf without a host synchronisation per step.

    Every step's finiteness is folded into flags *on the loss's device* (the first bad step and its
    loss are remembered there); :meth:`check` reads them back (one sync) and raises
    :class:`NonFiniteLossError` naming the FIRST bad step. ``fit`` calls it every ``check_every``
    steps and at the end of every epoch, before the monitor and the checkpoint. With
    ``check_every=1`` (the CPU default, where a sync costs nothing) a bad step is caught before its
    backward pass, so the optimizer never steps on it; with ``check_every=k > 1`` (the CUDA default,
    where a sync per step stalls the GPU) up to ``k - 1`` steps may have been applied when it
    raises: the model in memory is then garbage, but the last checkpoint was written from a checked
    epoch and stays good.
    """

    def __init__(self, device: torch.device, steps_per_epoch: int):
        self.steps_per_epoch = steps_per_epoch
        self.bad = torch.zeros((), dtype=torch.bool, device=device)
        self.first_step = torch.full((), -1, dtype=torch.int64, device=device)
        self.first_loss = torch.zeros((), dtype=torch.float32, device=device)

    def observe(self, loss: torch.Tensor, step: int) -> None:
        """Fold this step's loss into the flags (asynchronous kernels only)."""
        nonfinite = ~torch.isfinite(loss.detach())
        newly = nonfinite & ~self.bad
        self.first_step.masked_fill_(newly, step)
        self.first_loss = torch.where(newly, loss.detach().float(), self.first_loss)
        self.bad |= nonfinite

    def check(self) -> None:
        """One host sync: raise for the first non-finite loss seen so far, if any."""
        if not bool(self.bad):
            return
        step = int(self.first_step)
        epoch, batch = divmod(step, self.steps_per_epoch)
        raise NonFiniteLossError(
            f"the loss became {self.first_loss.item()} at step {step} (epoch {epoch + 1}, batch {batch + 1}); "
            "lower the learning rate or raise the temperature")


class _StepModule:
    """The module the training step calls: ``torch.compile(model)`` where compiling was asked for,
    else ``model`` itself. The compiled wrapper shares the parameters and buffers of ``model``,
    which keeps the state dict (checkpoints stay identical to an eager run's).

    ``torch.compile`` is lazy: it fails at the first call, not when wrapping (no C++ compiler, an
    unsupported platform, a graph it cannot trace). So the first step runs through :meth:`run`,
    which on any failure of the compiled module prints one warning and repeats the step eagerly;
    eager is used from then on.
    """

    def __init__(self, model: nn.Module, compile: bool, wrap: Callable[[nn.Module], Callable] | None = None):
        self.wrap = wrap or (lambda module: module)  # e.g. a ShardedModel around it (several processes)
        self.model, self.active, self.proven = model, self.wrap(model), not compile
        if compile:
            try:
                self.active = self.wrap(torch.compile(model))
            except Exception as exc:  # e.g. "Windows not yet supported for torch.compile"
                self._fall_back(exc)

    def _fall_back(self, exc: Exception) -> None:
        print(f"WARNING: torch.compile failed ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}); "
              "training continues eagerly", flush=True)
        self.active, self.proven = self.wrap(self.model), True

    def run(self, step_fn: Callable[[nn.Module], torch.Tensor]) -> torch.Tensor:
        """``step_fn(module)``; until a compiled step has succeeded once, a failure falls back to eager."""
        if self.proven:
            return step_fn(self.active)
        try:
            out = step_fn(self.active)
        except NonFiniteLossError:
            raise
        except Exception as exc:
            self._fall_back(exc)
            return step_fn(self.active)
        self.proven = True
        return out


def compile_default(device: torch.device) -> bool:
    """Whether ``fit`` compiles when not told: ``$CL_COURSE_COMPILE`` (``1``/``0``) if set, else on
    for CUDA (where it pays) and off on the CPU (where compiling costs more than it saves)."""
    env = os.environ.get("CL_COURSE_COMPILE", "").strip().lower()
    if env in ("1", "true", "yes", "on"):
        return True
    if env in ("0", "false", "no", "off"):
        return False
    return device.type == "cuda"


class CheckpointError(RuntimeError):
    """A checkpoint cannot be resumed: unreadable, or saved by a run shaped otherwise."""


def run_fingerprint(model: nn.Module, images: torch.Tensor, *, extra: dict | None = None, **recipe) -> dict:
    """What shapes a training run, as plain values: the recipe (epochs, batch size, rates, seed...),
    the model's parameter shapes, the training images' shape, and ``extra``. A checkpoint resumes a
    run only when its fingerprint equals this one."""
    shapes = {name: list(p.shape) for name, p in model.state_dict().items()}
    return {**{k: v for k, v in recipe.items()}, "model": shapes, "images": list(images.shape),
            **({"extra": extra} if extra else {})}


def differences(saved: dict, now: dict) -> list[str]:
    """One line per key whose value differs between two fingerprints."""
    keys = sorted(set(saved) | set(now))
    return [f"{k}: saved {_short(saved.get(k))}, now {_short(now.get(k))}" for k in keys if saved.get(k) != now.get(k)]


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else f"{text[:77]}..."


def load_checkpoint(path: Path, device: torch.device, fingerprint: dict) -> dict:
    """The state saved in ``path`` (``weights_only=True``), checked against ``fingerprint``.

    Raises:
        CheckpointError: naming the file and the fix, when it cannot be read (empty, truncated,
            not a checkpoint, not safely loadable) or was saved by a run shaped otherwise (what differs).
    """
    fix = f"delete {path} to start this run fresh (or resume=False)"
    try:
        state = torch.load(path, map_location=device, weights_only=True)
    except Exception as exc:  # EOFError, RuntimeError (truncated zip), UnpicklingError (not safe / not torch)
        if isinstance(exc, pickle.UnpicklingError):  # torch's text suggests loading unsafely: not repeated
            reason = "it holds objects that are not plain tensors and numbers, which are not loaded"
        else:
            reason = (str(exc).splitlines() or [""])[0][:120]
        raise CheckpointError(f"the checkpoint {path} cannot be read ({type(exc).__name__}: {reason}); {fix}") from None
    needed = ("model", "optimizer", "epoch", "history")
    if not isinstance(state, dict) or any(k not in state for k in needed):
        raise CheckpointError(f"{path} is not a checkpoint of cl_course.train.fit (it needs {', '.join(needed)}); {fix}")
    saved = state.get("fingerprint")
    if saved != fingerprint:
        diff = differences(saved or {}, fingerprint) if isinstance(saved, dict) else ["no fingerprint saved"]
        raise CheckpointError(f"the checkpoint {path} was saved by a run shaped otherwise "
                              f"({'; '.join(diff)}); {fix}")
    return state


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
    epochs: float,
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
    compile: bool | None = None,
    bf16: bool | None = None,
    check_every: int | None = None,
    fingerprint: dict | None = None,
    shard: Shard | None = None,
    on_epoch: Callable[[History], None] | None = None,
) -> History:
    """Train ``model`` on ``images`` (uint8 ``(N, C, H, W)``) with ``objective``; return the history.

    Args:
        epochs: passes over ``images``; a number under 1 (or with a fractional part) trains that
            share of an epoch's steps, the last epoch cut short.
        monitor: called with the model after every epoch; its dict is added to the epoch record
            (e.g. ``{"knn_top1": ...}``).
        checkpoint: file for model/optimizer state after every epoch, with a fingerprint of what
            shaped the run (:func:`run_fingerprint`); with ``resume`` an existing one is loaded
            (``weights_only=True``) and training continues after its last epoch, but only when its
            fingerprint matches (else :class:`CheckpointError`).
        fingerprint: more of what shapes the run (e.g. the objective's knobs, the data set), joined
            to the fingerprint.
        stop_after_epochs: stop (as if interrupted) after this many epochs of this call.
        compile: run the step through ``torch.compile(model)`` (``None``: :func:`compile_default`,
            on for CUDA); where compiling fails, one warning is printed and training goes on eagerly.
        bf16: run the forward pass and the loss under bf16 autocast (``None``:
            :func:`cl_course.precision.bf16_default`: ``$CL_COURSE_BF16`` where set, else on for
            CUDA and for a CPU with bf16 instructions).
        check_every: steps between the NaN guard's host checks (``None``: 1 on the CPU, 20 on CUDA;
            always also at the end of every epoch); see :class:`_NonFiniteGuard` for what a value
            above 1 means for the weights when it raises.
        shard: this process's part of a run on several processes (:mod:`cl_course.distributed`,
            process group already joined): the same global batches and views as one process at
            ``batch_size`` (divisible by the number of processes), the encoder run on this process's
            share through DistributedDataParallel, the loss on the global batch. Only rank 0 prints,
            shows the progress bar, writes the checkpoint and calls ``on_epoch``; every process resumes
            from the checkpoint, which must therefore be readable by all of them.
        on_epoch: called with the history after every epoch's record (e.g. to write a log).

    The model is kept in channels_last memory; the step runs under bf16 autocast where ``bf16`` says. One code
    path for both devices: the data sits on the training device as uint8, the views are made there,
    and no step waits for the host (no ``.item()``) unless a progress bar is shown or a check is due.

    Raises:
        ValueError: bad sizes or rates. NonFiniteLossError: the loss became NaN/inf.
        CheckpointError: the checkpoint is unreadable or from another run.
    """
    if batch_size < 2:
        raise ValueError(f"batch_size must be at least 2 (contrastive losses need negatives), got {batch_size}")
    if batch_size > len(images):
        raise ValueError(f"batch_size {batch_size} is larger than the training set ({len(images)} images)")
    if not (isinstance(epochs, (int, float)) and not isinstance(epochs, bool) and math.isfinite(epochs) and epochs > 0):
        raise ValueError(f"epochs must be a number > 0 (a share of an epoch trains that share of its steps), got {epochs!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr}")
    if check_every is not None and check_every < 1:
        raise ValueError(f"check_every must be >= 1, got {check_every}")
    sampler = EpochSampler(len(images), batch_size, seed=seed, shard=shard)
    main = shard is None or shard.is_main
    device = torch.device(device)
    check_every = check_every or (20 if device.type == "cuda" else 1)
    quiet = (quiet_default() if quiet is None else quiet) or not main
    # channels_last pays on GPUs (tensor cores) and on CPUs (oneDNN convolutions: ~1.5x here).
    model.to(device, memory_format=torch.channels_last)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
        images = images.to(device)
        labels = labels.to(device) if labels is not None else None
    opt = make_optimizer(model, optimizer, lr, weight_decay)
    steps_per_epoch = sampler.steps
    # A budget under one epoch (e.g. 0.5) trains that share of an epoch's steps, with the warm-up
    # shrunk in proportion so that the schedule keeps its shape (warm-up, then cosine decay to 0).
    total = max(1, round(epochs * steps_per_epoch))
    warmup = int(warmup_epochs * steps_per_epoch * min(1.0, epochs))
    n_epochs = math.ceil(total / steps_per_epoch)
    history, start_epoch = History(), 0
    ckpt = Path(checkpoint) if checkpoint is not None else None
    shaped_by = run_fingerprint(model, images, epochs=epochs, batch_size=batch_size, lr=lr,
                                weight_decay=weight_decay, optimizer=optimizer, warmup_epochs=warmup_epochs,
                                seed=seed, extra=fingerprint)
    if ckpt is not None and resume and ckpt.exists():
        state = load_checkpoint(ckpt, device, shaped_by)
        model.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        history.epochs = list(state["history"])
        start_epoch = int(state["epoch"])
        if not quiet:
            print(f"resumed from {ckpt} after epoch {start_epoch}")
    gen = torch.Generator(device=device)
    from tqdm.auto import tqdm

    wrap = (lambda module: ShardedModel(module, shard, batch_size, device=device)) if shard is not None else None
    use_bf16 = resolve_bf16(bf16, device)
    stepper = _StepModule(model, compile_default(device) if compile is None else compile, wrap)
    guard = _NonFiniteGuard(device, steps_per_epoch)
    model.train()
    for epoch in range(start_epoch, n_epochs):
        if stop_after_epochs is not None and epoch - start_epoch >= stop_after_epochs:
            break
        t0 = time.perf_counter()
        sampler.set_epoch(epoch)
        batches = torch.stack(sampler.batches()).to(images.device)  # (steps, batch_size): global batches
        steps_now = min(steps_per_epoch, total - epoch * steps_per_epoch)
        total_loss = torch.zeros((), device=device)
        bar = tqdm(range(steps_now), desc=f"epoch {epoch + 1}/{n_epochs}", disable=quiet, leave=False)
        for i in bar:
            step = epoch * steps_per_epoch + i
            for group in opt.param_groups:
                group["lr"] = learning_rate(step, total, lr, warmup) * group.get("lr_scale", 1.0)
            idx = batches[i]
            if hasattr(objective, "set_step"):  # schedules inside an objective (e.g. an annealed ring)
                objective.set_step(step, total)
            batch = (images[idx], labels[idx] if labels is not None else None)
            due = (i + 1) % check_every == 0 or i + 1 == steps_now

            def forward_backward(module, step=step, batch=batch, due=due):
                gen.manual_seed(seed * 1_000_003 + step)  # here, so a repeated (eager) step draws the same views
                opt.zero_grad(set_to_none=True)
                with autocast(device, use_bf16):
                    loss = objective(module, *batch, gen)
                guard.observe(loss, step)
                if due:
                    guard.check()  # before backward: with check_every=1 a bad step is never applied
                loss.backward()
                return loss

            loss = stepper.run(forward_backward)
            opt.step()
            total_loss += loss.detach()
            if not quiet and i % 10 == 0:  # .item() waits for the device: only for a visible bar
                bar.set_postfix(loss=f"{loss.item():.3f}")
        guard.check()  # the epoch's record, monitor and checkpoint only from checked steps
        record = {"epoch": epoch + 1, "loss": total_loss.item() / steps_now,
                  "lr": opt.param_groups[0]["lr"], "time_s": time.perf_counter() - t0}
        if hasattr(objective, "end_epoch"):
            record.update(objective.end_epoch())
        if monitor is not None:
            record.update(monitor(model))
            model.train()
        history.epochs.append(record)
        if not main:
            continue
        print("epoch {epoch}/{n}: ".format(epoch=epoch + 1, n=n_epochs)
              + (f"({steps_now} of {steps_per_epoch} steps) " if steps_now < steps_per_epoch else "")
              + ", ".join(f"{k} {v:.4g}" for k, v in record.items() if k != "epoch"), flush=True)
        if ckpt is not None:
            _save_atomic({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": epoch + 1,
                          "history": history.epochs, "fingerprint": shaped_by}, ckpt)
        if on_epoch is not None:
            on_epoch(history)
    model.eval()
    return history
