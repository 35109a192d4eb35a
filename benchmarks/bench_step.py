"""Benchmark: images/s of a whole SimCLR training step against the bare model and a DataLoader.

    python benchmarks/bench_step.py [--profile cpu] [--repeats 5] [--data-root ../shared/data]

For the profile's model and batch it times, interleaved in one run (the machines are noisy):
  bare    the model's forward + backward on a ready batch of 2B normalised views;
  step    the whole step: uint8 batch → two views per image (cl_course.augment, per-image draws)
          → forward → NT-Xent → backward;
  loader  the same step fed by a per-image torchvision-transforms pipeline through a DataLoader
          (num_workers 0 and 2), the usual way of writing it.
and prints images/s (one image = its two views) with the ratios step/bare and step/loader.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from cl_course.harness import profiles
from cl_course.augment import SimCLRViews
from cl_course.data import load_dataset
from cl_course.losses import nt_xent
from cl_course.models import build_model
from cl_course.models import EncoderPair
from cl_course.precision import autocast, resolve_bf16
from cl_course.objectives import (NonSemanticObjective, RingObjective, SimCLRObjective, SupportSetObjective,
                                  WCLObjective)


def torchvision_pipeline(cfg, mean, std):
    from torchvision.transforms import v2

    return v2.Compose([
        v2.RandomResizedCrop(cfg["image_size"], scale=(cfg["crop_scale"], 1.0), antialias=False),
        v2.RandomHorizontalFlip(),
        v2.RandomApply([v2.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        v2.RandomGrayscale(p=0.2),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean, std),
    ])


class PairDataset(torch.utils.data.Dataset):
    """uint8 (C, H, W) images → two independently transformed views (one draw per image per call)."""

    def __init__(self, images, transform):
        self.images, self.transform = images, transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        img = self.images[i]
        return self.transform(img), self.transform(img)


def load_profile(profile: str, data_root: str | None):
    """The profile's values, the device (CUDA where there is one), the profile's data set (scikit-learn
    digits where no CIFAR-10 copy is found) and its SimCLR views."""
    cfg = profiles.resolve(profile)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        data = load_dataset(cfg["dataset"], data_root, download=False)
    except FileNotFoundError:
        data = load_dataset("digits")
        print("(no CIFAR-10 copy found: benchmarking on scikit-learn digits)")
    views = SimCLRViews(size=cfg["image_size"], scale=(cfg["crop_scale"], 1.0), mean=data.mean, std=data.std)
    return cfg, device, data, views


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", choices=["ci", "cpu", "gpu"])
    ap.add_argument("--repeats", type=int, default=5, help="timed steps per variant and round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--data-root", default=None)
    ap.add_argument("--objective", default="simclr", choices=["simclr", "fnc", "ring", "patch", "wcl"],
                    help="fnc: the step also embeds 2 support views per image (no gradient) and flags false "
                         "negatives; ring: ring_nt_xent with notebook 05's ring (0.05, 0.6); patch: one "
                         "patch-shuffled negative per image (notebook 06); wcl: a second (biased) encoder "
                         "trained alongside, with relative-difficulty weights (notebook 07)")
    args = ap.parse_args()
    cfg, device, data, views = load_profile(args.profile, args.data_root)
    B = cfg["batch_size"]
    model = build_model(cfg["encoder"], data.channels, cfg["width"], cfg["stages"], 1, cfg["stem_stride"])
    model.to(device, memory_format=torch.channels_last).train()
    gen = torch.Generator(device=device).manual_seed(0)
    images = data.x_train[:B].to(device)
    ready = torch.cat(views.pair(images, gen)).contiguous(memory_format=torch.channels_last)
    bf16 = resolve_bf16(None, device)  # the precision fit would train in here ($CL_COURSE_BF16 decides where set)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def bare():
        with autocast(device, bf16):
            z = model(ready)
        z.float().pow(2).mean().backward()

    if args.objective == "fnc":
        objective = SupportSetObjective(views, support_size=2, top_k=1, temperature=cfg["temperature"])
    elif args.objective == "patch":
        sizes = [p for p in (4, 7, 8) if cfg["image_size"] % p == 0]
        objective = NonSemanticObjective(views, kind="patch", patch_sizes=sizes, alpha=2.0, temperature=cfg["temperature"])
    elif args.objective == "wcl":
        biased = build_model(cfg["encoder"], data.channels, cfg["width"], cfg["stages"], 1, cfg["stem_stride"])
        model = EncoderPair(model, biased.to(device, memory_format=torch.channels_last).train())
        objective = WCLObjective(views, temperature=cfg["temperature"], tau_plus=0.1)
    elif args.objective == "ring":
        objective = RingObjective(views, lower=0.05, upper=0.6, temperature=cfg["temperature"])
    else:
        objective = SimCLRObjective(views, temperature=cfg["temperature"])
    labels = data.y_train[:B].to(device)

    def step():  # exactly what cl_course.train.fit runs per step, minus the optimizer
        with autocast(device, bf16):
            loss = objective(model, images, labels, gen)
        loss.backward()

    def step_from_loader(v1, v2):
        x = torch.cat([v1, v2]).contiguous(memory_format=torch.channels_last)
        with autocast(device, bf16):
            z1, z2 = model(x).chunk(2)
            loss = nt_xent(z1, z2, temperature=cfg["temperature"])
        loss.backward()

    pool = data.x_train[: B * (args.repeats + 2)]  # (N, C, H, W) uint8: plain tensors are images to v2
    tv = torchvision_pipeline(cfg, data.mean, data.std)

    def loader_run(workers):
        dl = torch.utils.data.DataLoader(PairDataset(pool, tv), batch_size=B, shuffle=True, num_workers=workers,
                                         drop_last=True, persistent_workers=False)
        it = iter(dl)
        v1, v2 = next(it)  # start-up (worker spawn) not timed
        sync()
        t0 = time.perf_counter()
        n = 0
        for _ in range(args.repeats):
            v1, v2 = next(it)
            step_from_loader(v1.to(device), v2.to(device))
            n += B
        sync()
        return n / (time.perf_counter() - t0)

    def timed(fn):
        fn()
        sync()
        t0 = time.perf_counter()
        for _ in range(args.repeats):
            fn()
        sync()
        return args.repeats * B / (time.perf_counter() - t0)

    results = {"bare": [], "step": [], "loader w=0": [], "loader w=2": []}
    for r in range(args.rounds):
        results["bare"].append(timed(bare))
        results["step"].append(timed(step))
        results["loader w=0"].append(loader_run(0))
        results["loader w=2"].append(loader_run(2))
        print(f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.0f}" for k, v in results.items()), flush=True)
        model.zero_grad(set_to_none=True)
    med = {k: statistics.median(v) for k, v in results.items()}
    print(f"\nobjective {args.objective}, profile {args.profile}: {cfg['encoder']} width {cfg['width']}, batch {B} (2B = {2 * B} views), "
          f"{cfg['image_size']} px, device {device}, {torch.get_num_threads()} threads, {'bf16 autocast' if bf16 else 'float32'}")
    print("images/s (median of rounds; an image = its two views):")
    for k, v in med.items():
        print(f"  {k:<12} {v:8.0f}")
    print(f"step / bare model fwd+bwd      = {med['step'] / med['bare']:.3f}  (target >= 0.85)")
    print(f"step / torchvision DataLoader  = {med['step'] / med['loader w=0']:.2f}x (workers 0), "
          f"{med['step'] / med['loader w=2']:.2f}x (workers 2)")


if __name__ == "__main__":
    main()
