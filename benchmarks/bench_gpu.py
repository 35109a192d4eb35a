"""Benchmark: seconds per CIFAR-10 epoch of the ``gpu`` profile's SimCLR step, against the FLOP floor.

    python benchmarks/bench_gpu.py [--steps 30] [--warmup 5] [--batch-size 512] [--images 50000]
                                   [--data-root DIR] [--no-compile] [--tiny] [--out bench_gpu.md]

What is timed (each after ``--warmup`` untimed steps, ``--steps`` timed ones, the device synchronised
before and after; extrapolated to an epoch of 50,000 images, i.e. 50,000 / batch steps):

  step      the course's whole training step, as ``cl_course.train.fit`` runs it: a uint8 batch on the
            device → two SimCLR views per image (``SimCLRViews`` with the profile's crop scale) →
            ResNet-18 + head (channels_last, bf16 autocast on CUDA) → NT-Xent → backward → AdamW;
            eager, then with ``torch.compile`` of the model (as ``fit(compile=True)`` does);
  bare      the model's forward + backward alone on ready views (same shapes): what the step would
            cost if views and loss were free;
  floor     the model's forward FLOPs on one 32-px image (``FlopCounterMode``) × 3 (forward +
            backward) × 2 views × 50,000 images, at the bf16 peak (``--peak-tflops``, 800).

Reference rows (not measured here) give published anchors to compare with. ``--tiny`` shrinks model,
batch and pool so a CPU rehearsal takes seconds (its numbers say nothing about a GPU).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(ROOT))

from cl_course.harness import profiles  # noqa: E402
from cl_course.augment import SimCLRViews  # noqa: E402
from cl_course.models import build_model  # noqa: E402
from cl_course.objectives import SimCLRObjective  # noqa: E402
from cl_course.train import make_optimizer  # noqa: E402

EPOCH_IMAGES = 50_000
# Published figures to read the measured rows against: (label, seconds per epoch, source).
ANCHORS = [
    ("reference: lightly SimCLR, ResNet-18, CIFAR-10 (A6000)", 26.0, "lightly benchmarks"),
    ("reference: dkobak/simclr-cifar10 (A100)", 11.9, "dkobak/simclr-cifar10 README"),
    ("target: this course on one H100", 2.0, "issue 15: <= 2 s/epoch"),
]


@dataclass
class Setup:
    """Everything one benchmark run needs: model, views, optimizer, image pool and sizes."""

    model: torch.nn.Module
    views: SimCLRViews
    images: torch.Tensor  # uint8 (N, C, H, W) on the device
    batch_size: int
    image_size: int
    device: torch.device
    encoder: str
    temperature: float


def parse_args(argv=None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=None, help="timed steps (default 30; 3 with --tiny)")
    ap.add_argument("--warmup", type=int, default=None, help="untimed steps first (default 5; 1 with --tiny)")
    ap.add_argument("--batch-size", type=int, default=None, help="images per step (default: the gpu profile's 512)")
    ap.add_argument("--images", type=int, default=None, help="size of the image pool (default 50,000)")
    ap.add_argument("--data-root", default=None, help="folder with cifar10.npz (default: synthetic uint8 images)")
    ap.add_argument("--no-compile", action="store_true", help="skip the torch.compile rows")
    ap.add_argument("--tiny", action="store_true", help="a small CNN, batch 32, 16 px: a CPU rehearsal in seconds")
    ap.add_argument("--peak-tflops", type=float, default=800.0, help="bf16 dense peak for the floor (H100: ~800)")
    ap.add_argument("--out", default=None, help="write the table here (markdown) and beside it as .json")
    args = ap.parse_args(argv)
    tiny = args.tiny
    defaults = dict(steps=3 if tiny else 30, warmup=1 if tiny else 5, batch_size=32 if tiny else None,
                    images=256 if tiny else EPOCH_IMAGES)
    for key, value in defaults.items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def load_pool(n: int, data_root: str | None, size: int = 32) -> tuple[torch.Tensor, tuple, tuple, str]:
    """``n`` uint8 training images (the real CIFAR-10 copy when ``data_root`` holds one, else
    random pixels: a step costs the same on either) with their channel statistics and a label."""
    if data_root is not None:
        from cl_course.data import load_dataset

        data = load_dataset("cifar10", data_root, download=False)
        x = data.x_train[:n]
        if len(x) < n:  # a subset copy: repeat it to the requested pool size
            x = x.repeat((n + len(x) - 1) // len(x), 1, 1, 1)[:n]
        return x, data.mean, data.std, f"CIFAR-10 from {data.source}"
    x = torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return x, (0.5,) * 3, (0.25,) * 3, "synthetic uint8 images"


def build(args, device: torch.device) -> tuple[Setup, str]:
    """The gpu profile's model and views (or the tiny ones), the pool on the device."""
    cfg = profiles.resolve("gpu")
    batch = args.batch_size or cfg["batch_size"]
    torch.manual_seed(0)
    if args.tiny:
        encoder, image_size = "small_cnn", 16
        model = build_model("small_cnn", 3, width=8, stages=2, stem_stride=1, proj_hidden=32, proj_dim=16)
    else:
        encoder, image_size = cfg["encoder"], cfg["image_size"]
        model = build_model(encoder, 3)
    if batch > args.images:
        raise SystemExit(f"--batch-size {batch} is larger than --images {args.images}")
    images, mean, std, source = load_pool(args.images, args.data_root)
    views = SimCLRViews(size=image_size, scale=(cfg["crop_scale"], 1.0), mean=mean, std=std)
    model.to(device, memory_format=torch.channels_last).train()
    return Setup(model, views, images.to(device), batch, image_size, device, encoder, cfg["temperature"]), source


def forward_flops(model: torch.nn.Module, image_size: int, device: torch.device) -> int:
    """Forward FLOPs of ``model`` on one image (eval mode: BatchNorm1d refuses a batch of one in
    training; the convolutions and matrix products, which is all the counter counts, are the same)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, image_size, image_size, device=device).contiguous(memory_format=torch.channels_last)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_steps(fn, steps: int, warmup: int, device: torch.device) -> float:
    """Seconds per call of ``fn`` over ``steps`` calls after ``warmup`` untimed ones (the warm-up
    includes any compilation); the device is synchronised around the timed calls only."""
    for _ in range(warmup):
        fn()
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    sync(device)
    return (time.perf_counter() - t0) / steps


def make_step(s: Setup, module: torch.nn.Module):
    """fit's step through ``module`` (the model or its compiled wrapper): random batch → views →
    forward → NT-Xent → backward → AdamW. No host sync inside."""
    objective = SimCLRObjective(s.views, temperature=s.temperature)
    opt = make_optimizer(s.model, "adamw", 1e-4, 1e-6)  # a small rate: the weights stay sane
    gen = torch.Generator(device=s.device).manual_seed(0)
    amp = dict(device_type=s.device.type, dtype=torch.bfloat16, enabled=s.device.type == "cuda")

    def step():
        idx = torch.randint(0, len(s.images), (s.batch_size,), generator=gen, device=s.device)
        opt.zero_grad(set_to_none=True)
        with torch.autocast(**amp):
            loss = objective(module, s.images[idx], None, gen)
        loss.backward()
        opt.step()
    return step


def make_bare(s: Setup, module: torch.nn.Module):
    """The model's forward + backward on one ready batch of 2B views (no views, no loss, no optimizer)."""
    gen = torch.Generator(device=s.device).manual_seed(1)
    ready = s.views.stacked_pair(s.images[: s.batch_size], gen)
    amp = dict(device_type=s.device.type, dtype=torch.bfloat16, enabled=s.device.type == "cuda")

    def bare():
        s.model.zero_grad(set_to_none=True)
        with torch.autocast(**amp):
            z = module(ready)
        z.float().pow(2).mean().backward()
    return bare


def row(name: str, seconds_per_epoch: float | None, epoch_flops: float, peak: float, note: str = "") -> dict:
    """One table row: seconds per 50,000-image epoch, images/s and achieved TFLOP/s (% of peak)."""
    if seconds_per_epoch is None:
        return {"name": name, "s_per_epoch": None, "images_per_s": None, "tflops": None, "pct_peak": None,
                "note": note}
    tflops = epoch_flops / seconds_per_epoch / 1e12
    return {"name": name, "s_per_epoch": seconds_per_epoch, "images_per_s": EPOCH_IMAGES / seconds_per_epoch,
            "tflops": tflops, "pct_peak": 100 * tflops / peak, "note": note}


def measure(s: Setup, args, epoch_flops: float) -> list[dict]:
    """The measured rows: step and bare, eager and (unless ``--no-compile``) compiled."""
    steps_per_epoch = EPOCH_IMAGES / s.batch_size
    rows = []
    modules = [("eager", s.model)]
    if not args.no_compile:
        modules.append(("torch.compile", torch.compile(s.model)))
    for label, module in modules:
        for kind, maker in (("SimCLR step (views + fwd + NT-Xent + bwd + AdamW)", make_step),
                            ("bare model fwd + bwd on ready views", make_bare)):
            name = f"{kind}, {label}"
            t0 = time.perf_counter()
            try:
                per_step = time_steps(maker(s, module), args.steps, args.warmup, s.device)
            except Exception as exc:  # e.g. no working compiler: report it, keep the other rows
                rows.append(row(name, None, epoch_flops, args.peak_tflops,
                                f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else ''}"))
                print(f"{name}: FAILED ({type(exc).__name__})", flush=True)
                continue
            note = f"{per_step * 1e3:.1f} ms/step; {time.perf_counter() - t0:.0f} s with warm-up (and compiling)"
            rows.append(row(name, per_step * steps_per_epoch, epoch_flops, args.peak_tflops, note))
            print(f"{name}: {per_step * 1e3:.2f} ms/step", flush=True)
    return rows


def fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def markdown(header: str, rows: list[dict]) -> str:
    lines = [header, "", "| what | s / epoch (50,000 images) | images/s | TFLOP/s | % of bf16 peak | note |",
             "|---|---:|---:|---:|---:|---|"]
    for r in rows:
        lines.append(f"| {r['name']} | {fmt(r['s_per_epoch'], '.3g')} | {fmt(r['images_per_s'], ',.0f')} | "
                     f"{fmt(r['tflops'], '.3g')} | {fmt(r['pct_peak'], '.3g')} | {r['note']} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> dict:
    args = parse_args(argv)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    s, source = build(args, device)
    flops_image = forward_flops(s.model, s.image_size, device)
    epoch_flops = flops_image * 3 * 2 * EPOCH_IMAGES
    floor = epoch_flops / (args.peak_tflops * 1e12)
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else \
        f"cpu ({platform.machine()}, {torch.get_num_threads()} threads)"
    header = (f"**bench_gpu** — device {dev_name}, torch {torch.__version__}; {s.encoder}, batch {s.batch_size} "
              f"(2 × {s.batch_size} views of {s.image_size} px), pool {len(s.images):,} ({source}); "
              f"{args.steps} timed steps after {args.warmup} warm-up; epoch = {EPOCH_IMAGES:,} images = "
              f"{EPOCH_IMAGES / s.batch_size:.1f} steps; forward {flops_image / 1e9:.3f} GFLOP/image"
              + (" — TINY rehearsal: these numbers say nothing about a GPU" if args.tiny else ""))
    print(header, flush=True)
    rows = measure(s, args, epoch_flops)
    rows.append(row(f"FLOP floor at {args.peak_tflops:.0f} TFLOP/s", floor, epoch_flops, args.peak_tflops,
                    "fwd FLOPs × 3 × 2 views × 50,000"))
    rows += [row(name, sec, epoch_flops, args.peak_tflops, f"published, not measured here ({src})")
             for name, sec, src in ANCHORS]
    table = markdown(header, rows)
    print("\n" + table, flush=True)
    result = {"header": header, "device": dev_name, "torch": torch.__version__, "tiny": args.tiny,
              "batch_size": s.batch_size, "image_size": s.image_size, "encoder": s.encoder,
              "forward_flops_per_image": flops_image, "epoch_flops": epoch_flops, "rows": rows}
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(table)
        out.with_suffix(".json").write_text(json.dumps(result, indent=2))
        print(f"wrote {out} and {out.with_suffix('.json')}")
    return result


if __name__ == "__main__":
    main()
