"""Training on several processes (torch.distributed): every loss of the course on the global batch.

Under plain DistributedDataParallel a contrastive loss contrasts each process's anchors with its
local batch only: the number of negatives shrinks by the number of processes, and every method of
the course depends on that number (DCL's N, the ring's ranks, FNC's candidates, HCL's weights).
Here the rule is instead: **the model is sharded, the loss is not.**

* Every process holds the data set and draws the epoch's order from ``(seed, epoch)`` and each
  step's views from ``(seed, step)`` (:func:`cl_course.train.fit`), so every process sees the
  *same global batch and views* as a single process at that batch size.
* The objective calls the model on its whole input (two views, support views, non-semantic
  negatives: any number of stacked global batches). :class:`ShardedModel` runs the encoder only on
  this process's rows (:meth:`Shard.rows`, the same rows :class:`EpochSampler` gives this process)
  through DistributedDataParallel, and all-gathers the outputs with an all-gather that
  back-propagates (:func:`gather`): the objective gets the global batch's projections, in order,
  and computes its loss on all of them. So every objective — SimCLR, DCL, HCL, the oracle, the ring,
  FNC (support views included), Ge et al., WCL (biased encoder included) — runs unchanged.
* Gradients: every process computes the same global loss; the all-gather's backward sums the
  ``world`` copies' gradients into each process's rows (``world ×`` the single-process gradient
  of its projections), and DDP's mean over ``world`` processes gives back exactly the
  single-process gradient of every parameter. With :func:`sync_batchnorm` the BatchNorm statistics
  are the global batch's too, and ``W`` processes at global batch ``B`` train the same weights as one
  process at ``B`` (``tests/test_distributed.py``).

Cost: every process draws the views of the whole global batch and computes the loss on it — O(world)
augmentation and loss compute (a ``2B × 2B`` similarity matrix), small next to the encoder's
forward and backward, which each process runs on ``B / world`` images only. Memory: each process
holds the data set (in-memory uint8, as on one device).
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from typing import Iterator

import torch
import torch.distributed as dist
import torch.distributed.nn.functional as dist_nn
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Sampler

# Recent torch releases mark torch.distributed.nn.functional deprecated in favour of a private module
# (_functional_collectives); its collectives still back-propagate as documented, so the notice, printed
# once per call site and process, is not repeated here.
warnings.filterwarnings("ignore", message=r"torch\.distributed\.nn\.functional\.\w+ is deprecated",
                        category=FutureWarning)


# --- the process group -----------------------------------------------------------------------------
def is_distributed() -> bool:
    """Whether a process group of more than one process is running."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank (0 without a process group)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """The number of processes (1 without a process group)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def is_main() -> bool:
    """Whether this is rank 0: the process that prints, shows the progress bar and writes files."""
    return rank() == 0


def print0(*args, **kwargs) -> None:
    """``print`` on rank 0 only."""
    if is_main():
        print(*args, **kwargs, flush=True)


def launched_by_torchrun() -> bool:
    """Whether torchrun (or another launcher with its environment variables) started this process."""
    return "RANK" in os.environ and "WORLD_SIZE" in os.environ


def init_from_env(backend: str | None = None) -> tuple[Shard | None, torch.device]:
    """Join the process group that torchrun describes (``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``,
    ``MASTER_ADDR``, ``MASTER_PORT``) and pick this process's device: ``cuda:LOCAL_RANK`` where CUDA
    is there (backend ``nccl``), else the CPU (backend ``gloo``).

    Returns ``(shard, device)``; ``shard`` is ``None`` for a single process (no launcher, or
    ``WORLD_SIZE=1``), which then trains exactly as :func:`cl_course.train.fit` always did.
    """
    cuda = torch.cuda.is_available()
    if not launched_by_torchrun() or int(os.environ["WORLD_SIZE"]) == 1:
        return None, torch.device("cuda" if cuda else "cpu")
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend or ("nccl" if cuda else "gloo"))
    return Shard(dist.get_rank(), dist.get_world_size()), device


def finish(wait: bool = True) -> None:
    """Leave the process group, if any (after a barrier with ``wait``, so that no process exits while
    another still writes; without, after an error)."""
    if dist.is_available() and dist.is_initialized():
        if wait:
            dist.barrier()
        dist.destroy_process_group()


# --- gathering with gradients --------------------------------------------------------------------
def gather(tensor: torch.Tensor) -> torch.Tensor:
    """The rows of ``tensor`` from every process, concatenated in rank order (``(world·n, ...)``);
    gradients flow back to each process's own rows (``torch.distributed.nn.functional.all_gather``,
    whose backward sums what every process's loss sends to them). Without a process group,
    ``tensor`` itself."""
    if not is_distributed():
        return tensor
    return torch.cat(dist_nn.all_gather(tensor))


@dataclass(frozen=True)
class Shard:
    """This process's share of every global batch: ``rank`` of ``world`` processes.

    A global batch of ``B`` images (``B`` divisible by ``world``) is split into ``world`` contiguous
    parts of ``B / world``; this process encodes part ``rank`` — the same rows in every block of a
    stacked input (view 1 of its images, then view 2 of the same images, ...)."""

    rank: int
    world: int

    def __post_init__(self):
        if not (0 <= self.rank < self.world):
            raise ValueError(f"rank must be in [0, world), got rank {self.rank} of world {self.world}")

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def check_batch_size(self, batch_size: int) -> int:
        """``batch_size / world``, or ``ValueError`` when it does not divide."""
        if batch_size % self.world:
            raise ValueError(f"batch_size {batch_size} must be divisible by the number of processes "
                             f"({self.world}): every process encodes an equal part of the global batch")
        return batch_size // self.world

    def rows(self, batch_size: int) -> slice:
        """This process's rows of a global batch of ``batch_size``."""
        part = self.check_batch_size(batch_size)
        return slice(self.rank * part, (self.rank + 1) * part)

    def local(self, x: torch.Tensor, batch_size: int) -> torch.Tensor:
        """This process's rows of ``x``, which stacks ``k`` global batches of ``batch_size``
        (``(k·B, ...)`` → ``(k·B/world, ...)``)."""
        if len(x) % batch_size:
            raise ValueError(f"a sharded model takes whole global batches: {len(x)} rows is not a multiple "
                             f"of the batch size {batch_size}")
        rows = self.rows(batch_size)
        blocks = x.unflatten(0, (len(x) // batch_size, batch_size))[:, rows].flatten(0, 1)
        return blocks.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else blocks.contiguous()

    def assemble(self, local: torch.Tensor, blocks: int) -> torch.Tensor:
        """The inverse of :meth:`local` across processes: every process's rows gathered
        (:func:`gather`, with gradients) and put back in the global order."""
        parts = gather(local).unflatten(0, (self.world, blocks, len(local) // blocks))  # (W, k, B/W, ...)
        return parts.transpose(0, 1).flatten(0, 2)  # (k·B, ...)


# --- the sampler ---------------------------------------------------------------------------------
def epoch_order(n: int, seed: int, epoch: int) -> torch.Tensor:
    """The epoch's shuffle of ``n`` images, drawn from ``(seed, epoch)`` alone: the same on every
    process and in a resumed run."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))


class EpochSampler(Sampler[int]):
    """The global batches of an epoch and this process's share of each.

    The order comes from :func:`epoch_order` ``(seed, epoch)``; the last incomplete batch is dropped;
    :meth:`batches` gives the global batches (what :func:`cl_course.train.fit` draws views for) and
    iterating gives this process's indices (its :meth:`Shard.rows` of every global batch), so the
    processes' shares of an epoch are disjoint and together cover its batches. Call
    :meth:`set_epoch` before each epoch, as with ``DistributedSampler``.
    """

    def __init__(self, n: int, batch_size: int, *, seed: int = 0, shard: Shard | None = None):
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.shard = shard or Shard(0, 1)
        self.shard.check_batch_size(batch_size)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def steps(self) -> int:
        """Global batches per epoch."""
        return self.n // self.batch_size

    def batches(self) -> list[torch.Tensor]:
        """The epoch's global batches, each ``(batch_size,)`` indices."""
        order = epoch_order(self.n, self.seed, self.epoch)
        return list(order[: self.steps * self.batch_size].view(self.steps, self.batch_size))

    def __iter__(self) -> Iterator[int]:
        rows = self.shard.rows(self.batch_size)
        for batch in self.batches():
            yield from batch[rows].tolist()

    def __len__(self) -> int:
        return self.steps * (self.batch_size // self.shard.world)


# --- the model -----------------------------------------------------------------------------------
class _Route(nn.Module):
    """What DDP wraps: the model, run whole or through one of its submodules named by ``path``
    (WCL's objective calls ``model.biased``), so every forward goes through DDP."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor, path: str = "") -> torch.Tensor:
        target = self.model
        for name in filter(None, path.split(".")):
            target = getattr(target, name)
        return target(x)


class ShardedModel:
    """The model as the objective sees it under torch.distributed: called on stacked global batches,
    it encodes this process's rows through DistributedDataParallel and returns every process's
    outputs in the global order (:meth:`Shard.local`, :meth:`Shard.assemble`). A submodule
    (``sharded.biased``) is sharded the same way, through the same DDP."""

    def __init__(self, model: nn.Module, shard: Shard, batch_size: int, *, device: torch.device | None = None,
                 _ddp: DistributedDataParallel | None = None, _path: str = ""):
        shard.check_batch_size(batch_size)
        self.model, self.shard, self.batch_size, self._path = model, shard, batch_size, _path
        if _ddp is None:
            on_gpu = device is not None and device.type == "cuda"
            _ddp = DistributedDataParallel(_Route(model), device_ids=[device.index] if on_gpu else None)
        self.ddp = _ddp

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        blocks = len(x) // self.batch_size
        out = self.ddp(self.shard.local(x, self.batch_size), path=self._path)
        return self.shard.assemble(out, blocks)

    def __getattr__(self, name: str):
        target = getattr(self.model, name)
        if isinstance(target, nn.Module):
            path = f"{self._path}.{name}" if self._path else name
            return ShardedModel(target, self.shard, self.batch_size, _ddp=self.ddp, _path=path)
        return target


# --- BatchNorm over the global batch -------------------------------------------------------------
class CPUSyncBatchNorm(nn.modules.batchnorm._BatchNorm):
    """BatchNorm over the global batch on the CPU (gloo), where ``torch.nn.SyncBatchNorm`` refuses to
    run (and DDP refuses it): the global batch's mean and variance come from two differentiable
    all-reduces (``torch.distributed.nn.functional.all_reduce``); outside training or a process group
    it is plain BatchNorm. Made by :func:`sync_batchnorm`; same parameters and buffers."""

    def _check_input_dim(self, x: torch.Tensor) -> None:
        if x.dim() < 2:
            raise ValueError(f"expected at least 2D input (got {x.dim()}D input)")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and is_distributed()):
            return super().forward(x)
        dims = [0, *range(2, x.dim())]
        shape = [1, -1] + [1] * (x.dim() - 2)
        count = torch.tensor([x.numel() / x.shape[1]], dtype=x.dtype, device=x.device)
        sums = dist_nn.all_reduce(torch.cat([x.sum(dims), count]))
        n = sums[-1]
        mean = sums[:-1] / n
        var = dist_nn.all_reduce(((x - mean.view(shape)) ** 2).sum(dims)) / n
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - m).add_(mean.detach(), alpha=m)
                self.running_var.mul_(1 - m).add_(var.detach() * n / (n - 1), alpha=m)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


def sync_batchnorm(model: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """``model`` with every BatchNorm computing its statistics over the global batch: torch's
    ``SyncBatchNorm`` for a model that trains on a GPU, :class:`CPUSyncBatchNorm` on the CPU.
    Parameters and buffers are kept, so the state dict loads into the plain model."""
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if torch.device(device).type != "cpu":
        return model
    for module in model.modules():
        if type(module) is nn.SyncBatchNorm:
            module.__class__ = CPUSyncBatchNorm  # the same fields; another forward
    return model
