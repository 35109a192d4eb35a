"""Several processes (gloo, on the CPU, spawned here) compute what one process computes on the
global batch: the gathered losses and their gradients, and whole training steps (SyncBatchNorm);
the sampler splits every epoch disjointly."""
from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from cl_course import distributed
from cl_course.augment import SimCLRViews
from cl_course.distributed import EpochSampler, Shard, epoch_order, gather, sync_batchnorm
from cl_course.losses import debiased_nt_xent, hard_negative_nt_xent, nt_xent, ring_nt_xent
from cl_course.models import build_model
from cl_course.objectives import (NonSemanticObjective, SimCLRObjective, SupportSetObjective,
                                  WCLObjective)
from cl_course.train import fit

WORLD = 2
B, D = 8, 6  # global batch, projection size

LOSSES = {
    "nt_xent": lambda z1, z2: nt_xent(z1, z2, 0.5),
    "dcl": lambda z1, z2: debiased_nt_xent(z1, z2, 0.5, 0.1),
    "hcl": lambda z1, z2: hard_negative_nt_xent(z1, z2, 0.5, 0.1, 1.0),
    "ring": lambda z1, z2: ring_nt_xent(z1, z2, 0.5, 0.1, 0.7),
    "ring_resampled": lambda z1, z2: ring_nt_xent(z1, z2, 0.5, 0.1, 0.7, resample=True),
}


def spawn(worker, tmp_path: Path, *args) -> None:
    """Run ``worker(rank, tmp_path, *args)`` in WORLD processes joined by a gloo process group."""
    mp.spawn(_join, args=(worker, tmp_path, args), nprocs=WORLD, join=True)


def _join(rank: int, worker, tmp_path: Path, args) -> None:
    torch.set_num_threads(1)
    os.environ["CL_COURSE_QUIET"] = "1"
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=rank, world_size=WORLD)
    try:
        worker(rank, tmp_path, *args)
    finally:
        dist.destroy_process_group()


def global_projections():
    gen = torch.Generator().manual_seed(0)
    return torch.randn(B, D, generator=gen), torch.randn(B, D, generator=gen)


def _losses_worker(rank: int, tmp_path: Path) -> None:
    rows = Shard(rank, WORLD).rows(B)
    z1, z2 = global_projections()
    out = {}
    for name, loss_fn in LOSSES.items():
        l1, l2 = z1[rows].clone().requires_grad_(), z2[rows].clone().requires_grad_()
        loss = loss_fn(gather(l1), gather(l2))
        loss.backward()
        out[name] = {"loss": loss.detach(), "g1": l1.grad, "g2": l2.grad}
    torch.save(out, tmp_path / f"losses{rank}.pt")


def test_gathered_losses_and_their_gradients_equal_one_process_on_the_global_batch(tmp_path):
    spawn(_losses_worker, tmp_path)
    z1, z2 = global_projections()
    for rank in range(WORLD):
        rows = Shard(rank, WORLD).rows(B)
        got = torch.load(tmp_path / f"losses{rank}.pt")
        for name, loss_fn in LOSSES.items():
            a, b = z1.clone().requires_grad_(), z2.clone().requires_grad_()
            loss = loss_fn(a, b)
            loss.backward()
            torch.testing.assert_close(got[name]["loss"], loss.detach(), msg=f"{name}: loss on rank {rank}")
            # Every process back-propagates the same global loss and the all-gather sums the WORLD
            # copies into each process's rows; DDP's mean over WORLD processes then gives exactly
            # the single-process gradient of the parameters (the training test below).
            torch.testing.assert_close(got[name]["g1"] / WORLD, a.grad[rows], msg=f"{name}: d/dz1 on rank {rank}")
            torch.testing.assert_close(got[name]["g2"] / WORLD, b.grad[rows], msg=f"{name}: d/dz2 on rank {rank}")


def test_a_local_loss_is_what_the_gather_fixes(tmp_path):
    """The test above can fail: without the gather each process sees fewer negatives."""
    z1, z2 = global_projections()
    rows = Shard(0, WORLD).rows(B)
    assert not torch.allclose(nt_xent(z1[rows], z2[rows], 0.5), nt_xent(z1, z2, 0.5))


# --- training ------------------------------------------------------------------------------------
VIEWS = SimCLRViews(size=8, scale=(0.5, 1.0), mean=(0.5,), std=(0.25,))
FIT = dict(epochs=2, batch_size=8, lr=1e-2, warmup_epochs=0.5, seed=5, quiet=True, compile=False)


def objectives() -> dict:
    """An objective per way of calling the model: two views; two views plus support views without
    gradient (FNC); extra non-semantic negatives in the same forward; two encoders (WCL)."""
    return {"simclr": SimCLRObjective(VIEWS, temperature=0.5),
            "fnc": SupportSetObjective(VIEWS, temperature=0.5, support_size=2, top_k=1, threshold=None),
            "nonsemantic": NonSemanticObjective(VIEWS, temperature=0.5, patch_sizes=(4,), alpha=2.0),
            "wcl": WCLObjective(VIEWS, temperature=0.5, tau_plus=0.1, biased_lr_scale=0.5)}


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return build_model("small_cnn", 1, width=4, stages=2, stem_stride=1, proj_hidden=16, proj_dim=8)


def make_model(objective):
    build = getattr(objective, "build_model", None)
    return build(tiny_model, 0) if build is not None else tiny_model(0)


def training_data():
    gen = torch.Generator().manual_seed(1)
    return (torch.randint(0, 256, (28, 1, 8, 8), generator=gen, dtype=torch.uint8),
            torch.randint(0, 3, (28,), generator=gen))


def _training_worker(rank: int, tmp_path: Path) -> None:
    images, labels = training_data()
    out = {}
    for name, objective in objectives().items():
        model = sync_batchnorm(make_model(objective))
        history = fit(model, objective, images, labels, shard=Shard(rank, WORLD), **FIT)
        out[name] = {"state": model.state_dict(), "loss": history.column("loss")}
    torch.save(out, tmp_path / f"trained{rank}.pt")


def test_two_processes_train_the_weights_one_process_trains(tmp_path, monkeypatch):
    # Equal to 1e-5 in float32 (the processes inherit the environment); under bf16 the shards' sums and
    # the whole batch's round differently.
    monkeypatch.setenv("CL_COURSE_BF16", "0")
    spawn(_training_worker, tmp_path)
    images, labels = training_data()
    got = [torch.load(tmp_path / f"trained{rank}.pt") for rank in range(WORLD)]
    for name, objective in objectives().items():
        model = make_model(objective)
        start = {k: v.clone() for k, v in model.state_dict().items()}
        history = fit(model, objective, images, labels, **FIT)
        want = model.state_dict()
        for rank in range(WORLD):
            assert got[rank][name]["loss"] == pytest.approx(history.column("loss"), rel=1e-5), name
            assert got[rank][name]["state"].keys() == want.keys()
            for key, value in want.items():
                torch.testing.assert_close(got[rank][name]["state"][key], value, atol=2e-5, rtol=1e-4,
                                           msg=f"{name}: {key} on rank {rank}")
        moved = [k for k in want if want[k].is_floating_point() and not torch.allclose(want[k], start[k])]
        assert moved, f"{name}: training changed no weight, so the comparison proves nothing"


# --- the sampler and the shard -------------------------------------------------------------------
def test_the_sampler_splits_every_epoch_disjointly_and_covers_its_batches():
    n, batch, world = 50, 12, 3
    for epoch in range(3):
        shares = []
        for r in range(world):
            sampler = EpochSampler(n, batch, seed=7, shard=Shard(r, world))
            sampler.set_epoch(epoch)
            shares.append(list(sampler))
            assert len(shares[-1]) == len(sampler) == 4 * (batch // world)
        flat = [i for share in shares for i in share]
        assert len(set(flat)) == len(flat), "two processes got the same image"
        assert set(flat) == set(epoch_order(n, 7, epoch)[: 4 * batch].tolist()), "the shares miss part of the epoch"
        # each global batch is the one a single process trains on, split in rank order
        one = EpochSampler(n, batch, seed=7)
        one.set_epoch(epoch)
        for step, global_batch in enumerate(one.batches()):
            part = batch // world
            joined = sum((s[step * part:(step + 1) * part] for s in shares), [])
            assert joined == global_batch.tolist()
    a, b = EpochSampler(n, batch, seed=7), EpochSampler(n, batch, seed=7)
    b.set_epoch(1)
    assert list(a) != list(b), "every epoch must be shuffled anew"
    assert list(a) == list(EpochSampler(n, batch, seed=7)), "an epoch's order comes from (seed, epoch) alone"


def test_the_global_batch_must_split_evenly_and_a_sharded_input_be_whole_batches():
    with pytest.raises(ValueError, match="divisible by the number of processes"):
        EpochSampler(50, 10, shard=Shard(0, 3))
    with pytest.raises(ValueError, match="not a multiple of the batch size"):
        Shard(0, 2).local(torch.zeros(10, 3), 4)
    with pytest.raises(ValueError, match="rank"):
        Shard(2, 2)
    x = torch.arange(12).view(12, 1)  # three stacked global batches of 4
    assert Shard(1, 2).local(x, 4).flatten().tolist() == [2, 3, 6, 7, 10, 11]


def test_without_a_process_group_everything_is_one_process():
    t = torch.randn(3, 2)
    assert gather(t) is t
    assert (distributed.rank(), distributed.world_size(), distributed.is_main()) == (0, 1, True)
