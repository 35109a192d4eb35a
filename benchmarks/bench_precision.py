"""Benchmark: a whole SimCLR training step in float32 against the same step under bf16 autocast.

    python benchmarks/bench_precision.py [--profile cpu] [--widths 32 64] [--batches 256 128]
                                         [--data-root ../shared/data]

For each (width, batch) of the profile's encoder it times, interleaved step by step in one run
(the machines are noisy), what ``cl_course.train.fit`` runs per step: a uint8 batch → two views →
forward → NT-Xent → backward → AdamW, once in float32 and once under bf16 autocast
(``CL_COURSE_BF16=1``), and prints ms per step, the projected seconds per epoch of the training set
(CIFAR-10: 50,000 images) and the ratio bf16 / float32. On a CPU without bf16 instructions (AVX512-BF16 or AMX) bf16 is
emulated; the header says which this CPU is.
"""
from __future__ import annotations

import argparse
import itertools
import statistics
import time

import torch

from bench_step import load_profile  # benchmarks/ is on the path when run as a script
from cl_course.models import build_model
from cl_course.objectives import SimCLRObjective
from cl_course.precision import autocast, cpu_has_native_bf16


def main(argv=None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", default="cpu", choices=["ci", "cpu", "gpu"])
    ap.add_argument("--widths", type=int, nargs="+", default=None, help="encoder widths (default: the profile's)")
    ap.add_argument("--batches", type=int, nargs="+", default=None, help="batch sizes (default: the profile's)")
    ap.add_argument("--steps", type=int, default=30, help="timed steps per precision and geometry")
    ap.add_argument("--data-root", default=None)
    args = ap.parse_args(argv)
    cfg, device, data, views = load_profile(args.profile, args.data_root)
    objective = SimCLRObjective(views, temperature=cfg["temperature"])
    native = "native bf16 instructions" if device.type == "cuda" or cpu_has_native_bf16() else "bf16 EMULATED"
    print(f"profile {args.profile}: {cfg['encoder']}, {cfg['image_size']} px; device {device} ({native}), "
          f"{torch.get_num_threads()} threads; {args.steps} steps per precision, interleaved step by step")
    rows = []
    print(f"{'width':>6}{'batch':>7}{'fp32 ms':>10}{'bf16 ms':>10}{'fp32 s/ep':>11}{'bf16 s/ep':>11}{'bf16/fp32':>11}")
    for width, batch in itertools.product(args.widths or [cfg["width"]], args.batches or [cfg["batch_size"]]):
        models = {}
        for bf16 in (False, True):  # the same initial weights for both
            torch.manual_seed(0)
            model = build_model(cfg["encoder"], data.channels, width, cfg["stages"], 1, cfg["stem_stride"])
            model.to(device, memory_format=torch.channels_last).train()
            models[bf16] = (model, torch.optim.AdamW(model.parameters(), lr=cfg["lr"]))
        images = data.x_train[:batch].to(device)

        def step(bf16, gen=torch.Generator(device=device).manual_seed(0)):
            model, opt = models[bf16]
            opt.zero_grad(set_to_none=True)
            with autocast(device, bf16):
                loss = objective(model, images, None, gen)
            loss.backward()
            opt.step()
            if device.type == "cuda":
                torch.cuda.synchronize()

        times = {False: [], True: []}
        for bf16 in (False, True):  # warm-up
            step(bf16)
        for _ in range(args.steps):
            for bf16 in (False, True):
                t0 = time.perf_counter()
                step(bf16)
                times[bf16].append(time.perf_counter() - t0)
        fp32, bf16 = (statistics.median(times[k]) for k in (False, True))
        per_epoch = len(data.x_train) // batch  # steps of one epoch of the training set
        print(f"{width:>6}{batch:>7}{fp32 * 1e3:>10.1f}{bf16 * 1e3:>10.1f}{fp32 * per_epoch:>11.1f}"
              f"{bf16 * per_epoch:>11.1f}{bf16 / fp32:>11.2f}", flush=True)
        rows.append(dict(width=width, batch=batch, fp32_ms=fp32 * 1e3, bf16_ms=bf16 * 1e3, ratio=bf16 / fp32))
    return rows


if __name__ == "__main__":
    main()
