"""Benchmark: forward+backward time of each loss of cl_course.losses relative to nt_xent.

    python benchmarks/bench_losses.py [--batch 512] [--dim 128] [--repeats 20]

All losses are timed interleaved on the same inputs (the machines are
noisy): call by call, in a shuffled order each round; the table gives the median time per call
and the ratio to nt_xent (target <= 1.3x).
The FNC rows are timed with a fixed false-negative mask (the loss alone) and with detection from
two support embeddings (+detect); the support views' forward passes through a model are in
benchmarks/bench_step.py (--objective fnc).
"""
from __future__ import annotations

import argparse
import random
import statistics
import time

import torch

from cl_course import losses

def _support(z1):
    # Two support views per image: here noisy copies of z1 (no model). Their forward passes through
    # a model are timed in benchmarks/bench_step.py (--objective fnc).
    g = torch.Generator(device=z1.device).manual_seed(1)
    return torch.stack([z1.detach() + 0.1 * torch.randn(z1.shape, generator=g, device=z1.device)
                        for _ in range(2)], dim=1)  # (B, 2, D)


def _fnc(mode, detect):
    def run(z1, z2):
        support = _support(z1) if detect else None
        if detect:
            flags = losses.detect_false_negatives(support, z1.detach(), top_k=1)
        else:
            flags = _fnc.fixed_flags
        return losses.fnc_nt_xent(z1, z2, flags, temperature=0.5, mode=mode)
    return run


CASES = {
    "nt_xent": lambda z1, z2: losses.nt_xent(z1, z2, temperature=0.5),
    "debiased_nt_xent": lambda z1, z2: losses.debiased_nt_xent(z1, z2, temperature=0.5, tau_plus=0.1),
    "hard_negative_nt_xent": lambda z1, z2: losses.hard_negative_nt_xent(z1, z2, temperature=0.5, tau_plus=0.1, beta=1.0),
    "fnc elimination": _fnc("elimination", detect=False),
    "fnc attraction": _fnc("attraction", detect=False),
    "fnc elimination (+detect)": _fnc("elimination", detect=True),
    "fnc attraction (+detect)": _fnc("attraction", detect=True),
    "ring_nt_xent (0.05, 0.6)": lambda z1, z2: losses.ring_nt_xent(z1, z2, temperature=0.5, lower=0.05, upper=0.6),
    "ring_nt_xent CNCE (0.01, 0.1), resampled": lambda z1, z2: losses.ring_nt_xent(z1, z2, temperature=0.5, lower=0.01,
                                                                                  upper=0.1, resample=True),
    "nonsemantic_nt_xent (K=1)": lambda z1, z2: losses.nonsemantic_nt_xent(z1, z2, _wcl.negatives, 0.5, 2.0),
    "weighted_debiased_nt_xent": lambda z1, z2: losses.weighted_debiased_nt_xent(z1, z2, _wcl.weights, 0.5, 0.1),
    "wcl: weights + weighted DCL": lambda z1, z2: _wcl(z1, z2),
    "biased_triplet_loss": lambda z1, z2: losses.biased_triplet_loss(z1, z2, 0.1),
}


def _wcl(z1, z2):
    # The debiased encoder's loss with weights against a second (biased) pair of projections.
    w = losses.relative_difficulty_weights(z1, z2, _wcl.b1, _wcl.b2, 0.5)
    return losses.weighted_debiased_nt_xent(z1, z2, w, 0.5, 0.1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--repeats", type=int, default=20, help="calls per loss and round")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    g = torch.Generator(device=device).manual_seed(0)
    a = torch.randn(args.batch, args.dim, generator=g, device=device)
    b = torch.randn(args.batch, args.dim, generator=g, device=device)

    # The loss-only FNC rows use one fixed top-1 detection (the support set is not rebuilt).
    _fnc.fixed_flags = losses.detect_false_negatives(_support(a), a, top_k=1)
    # A second pair of projections (the biased encoder's) and one non-semantic negative per image.
    _wcl.b1, _wcl.b2, _wcl.negatives = (torch.randn(args.batch, args.dim, generator=g, device=device) for _ in range(3))
    _wcl.weights = losses.relative_difficulty_weights(a, b, _wcl.b1, _wcl.b2, 0.5)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def run(fn):
        z1, z2 = a.clone().requires_grad_(), b.clone().requires_grad_()
        fn(z1, z2).backward()

    times = {name: [] for name in CASES}
    for name, fn in CASES.items():  # warm-up
        run(fn)
    order = list(CASES)
    rng = random.Random(0)
    for _ in range(args.rounds):
        rng.shuffle(order)  # a different order every round: drifts in machine speed hit all losses alike
        for _ in range(args.repeats):
            for name in order:  # one call each, interleaved call by call
                sync()
                t0 = time.perf_counter()
                run(CASES[name])
                sync()
                times[name].append(time.perf_counter() - t0)
    base = statistics.median(times["nt_xent"])
    print(f"forward+backward, B={args.batch}, D={args.dim}, device {device}, {torch.get_num_threads()} threads "
          f"(median of {args.rounds} rounds x {args.repeats} calls, interleaved call by call)")
    print(f"{'loss':<28}{'ms/call':>10}{'x nt_xent':>12}")
    for name, ts in times.items():
        med = statistics.median(ts)
        print(f"{name:<28}{med * 1e3:>10.2f}{med / base:>12.2f}")


if __name__ == "__main__":
    main()
