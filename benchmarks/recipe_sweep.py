"""Benchmark: SimCLR's kNN top-1 at a fixed CPU-time budget, for candidate recipes of the ``cpu`` profile.

    python benchmarks/recipe_sweep.py cost --data-root ../shared/data --out runs/recipe/cost.json
    python benchmarks/recipe_sweep.py sweep --cost runs/recipe/cost.json --budget-epochs 6 \\
        --data-root .gpu_sweep --out runs/recipe/sweep.jsonl [--time-limit 480]

Notebook 01's recipe is the course's shared start, and its aim is a kNN top-1 of 0.60 with at most
10 minutes of training on a 2-core CPU. Two things decide a recipe's worth at such a budget, and they
can be measured apart:

* ``cost`` (on the CPU the budget is for): seconds per whole training step — views, forward,
  NT-Xent, backward, AdamW — for each batch size and image size, timed interleaved (the machines are
  noisy), median of rounds.
* ``sweep`` (anywhere; a GPU takes minutes where the CPU takes hours): each candidate recipe trains
  SimCLR with the course's own training loop for ``budget / cost`` steps — the number of steps the
  CPU would do in ``budget`` seconds — with the warm-up the ``cpu`` profile gives in steps, and is
  scored by weighted kNN on the whole data set given. The budget is given in epochs of the
  reference recipe (batch 256, 24 px, lr 1e-3: the width-64 ``cpu`` profile's, before it became width 32), so that it does not depend on the day's speed of the machine. The search is staged: the geometry (batch size
  × image size) × learning rate first, then the temperature and crop scale of the best one, then the
  best and the reference recipe on more seeds. Each result is appended to ``--out`` as it comes.

* ``verify`` (on the CPU): one recipe on the full data set through the session, as notebook 01
  trains it (the ``cpu`` profile with the given knobs, its kNN monitor included), then weighted kNN
  on the whole test set; prints the wall time of training and of the evaluation, appends a JSON line.

    python benchmarks/recipe_sweep.py verify --data-root ../shared/data --seed 0 \\
        -p batch_size 128 -p lr 0.003 -p epochs 6 --out runs/recipe/verify.jsonl

A sweep on a subset of CIFAR-10 (the GPU machine takes 64 MiB: ``make_cifar_subset.py``) ranks
recipes; the accuracy a recipe reaches on the full data set is measured on the CPU with ``verify``.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time
from pathlib import Path

import torch

from cl_course.harness import profiles
from cl_course.harness.run import parse_value
from cl_course.harness.session import setup
from cl_course.objectives import SimCLRObjective
from cl_course.train import fit, make_optimizer

GEOMETRIES = [(256, 24), (128, 24), (256, 20), (128, 20), (256, 16), (128, 16)]  # (batch size, image size)
CPU_EPOCH_IMAGES = 50000  # the cpu profile's training set: the warm-up is half an epoch of it


_LOADED: dict = {}  # (data root, data knobs) -> a session that loaded that data set: each is loaded once per process
DATA_KNOBS = ("dataset", "n_train", "n_test")


def _session(data_root, seed=0, **knobs):
    """A session of the ``cpu`` profile with ``knobs`` (checked as a notebook's would be), seeded as
    :func:`setup` seeds one; its data set is loaded by the first call that asks for it only."""
    data_knobs = {k: knobs[k] for k in DATA_KNOBS if k in knobs}
    key = (data_root, tuple(sorted(data_knobs.items())))
    if key not in _LOADED:
        _LOADED[key] = setup("recipe_sweep", profile="cpu", data_root=data_root, output_dir="/tmp/recipe_sweep",
                             **data_knobs)
    base = _LOADED[key]
    torch.manual_seed(seed)
    # the data is shared; what a run may change (its notes, its clock) is its own
    return dataclasses.replace(base, cfg=profiles.resolve("cpu", knobs), seed=seed, params=dict(base.params),
                               notes=list(base.notes), started=time.perf_counter())


def measure_cost(args) -> None:
    """Seconds per training step on this machine for each geometry, interleaved, median of rounds."""
    runs = []
    for batch, size in GEOMETRIES:
        s = _session(args.data_root, batch_size=batch, image_size=size)
        model = s.model()
        objective = SimCLRObjective(s.views(), temperature=s.cfg["temperature"])
        opt = make_optimizer(model, "adamw", 1e-3, 1e-4)
        images = s.data.x_train[: batch * 4]
        runs.append(((batch, size), model, objective, opt, images, s.generator()))
    times = {key: [] for key, *_ in runs}
    for r in range(args.rounds + 1):  # round 0 warms up
        for key, model, objective, opt, images, gen in runs:
            batch = key[0]
            idx = torch.randint(0, len(images), (batch,))
            t = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            objective(model, images[idx], None, gen).backward()
            opt.step()
            if r:
                times[key].append(time.perf_counter() - t)
    cost = {f"{b}x{px}": statistics.median(ts) for (b, px), ts in times.items()}
    for (b, px), ts in times.items():
        per_step = statistics.median(ts)
        print(f"batch {b:4d}, {px} px: {per_step:.3f} s/step, {b / per_step:6.0f} images/s, "
              f"{CPU_EPOCH_IMAGES / b * per_step:5.0f} s per 50,000-image epoch")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"threads": torch.get_num_threads(), "s_per_step": cost}, indent=2))
    print(f"wrote {args.out}")


def train_and_score(data_root, cost, budget_s, seed, batch, size, lr, temperature, crop_scale) -> dict:
    s = _session(data_root, seed=seed, batch_size=batch, image_size=size, lr=lr, temperature=temperature,
                 crop_scale=crop_scale)
    steps = int(budget_s / cost[f"{batch}x{size}"])
    steps_per_epoch = len(s.data.x_train) // batch
    warmup_steps = s.cfg["warmup_epochs"] * CPU_EPOCH_IMAGES / batch
    model = s.model()
    objective = SimCLRObjective(s.views(), temperature=temperature)
    t0 = time.perf_counter()
    fit(model, objective, s.data.x_train, s.data.y_train, epochs=steps / steps_per_epoch, batch_size=batch, lr=lr,
        weight_decay=s.cfg["weight_decay"], optimizer="adamw", warmup_epochs=warmup_steps / steps_per_epoch,
        seed=seed, device=s.device, quiet=True, compile=False)
    train_s = time.perf_counter() - t0
    knn = s.evaluate(model, objective.views, probe=False)["knn_top1"]
    return dict(seed=seed, batch=batch, image_size=size, lr=lr, temperature=temperature, crop_scale=crop_scale,
                steps=steps, cpu_budget_s=budget_s, knn_top1=round(knn, 4), train_s_here=round(train_s, 1),
                n_train=len(s.data.x_train), n_test=len(s.data.x_test), device=str(s.device))


def sweep(args) -> None:
    cost = json.loads(Path(args.cost).read_text())["s_per_step"]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    results = []

    def run(**recipe):
        if time.perf_counter() - start > args.time_limit:
            print(f"time limit reached: skipped {recipe}", flush=True)
            return None
        epochs = recipe.pop("budget_epochs", args.budget_epochs)
        budget_s = epochs * (CPU_EPOCH_IMAGES // 256) * cost["256x24"]
        r = train_and_score(args.data_root, cost, budget_s, **recipe) | {"budget_epochs_256x24": epochs}
        results.append(r)
        with out.open("a") as f:
            f.write(json.dumps(r) + "\n")
        print(json.dumps(r), flush=True)
        return r

    base = dict(temperature=0.2, crop_scale=0.2)
    # 0. the reference recipe at its own budget (10 epochs of 256 x 24 px), for the calibration of subset against full data
    run(seed=0, batch=256, size=24, lr=1e-3, budget_epochs=args.reference_epochs, **base)
    # 1. geometry x learning rate at the budget
    stage1 = [run(seed=0, batch=batch, size=size, lr=lr, **base) for batch, size in GEOMETRIES for lr in args.lrs]
    if not any(stage1):
        print("no run of the first stage finished within the time limit: nothing to build on", flush=True)
        return
    best = max((r for r in stage1 if r), key=lambda r: r["knn_top1"])
    geo = dict(batch=best["batch"], size=best["image_size"], lr=best["lr"])
    # 2. the learning rate between, the temperature and the crop scale of the best geometry
    stage2 = [run(seed=0, temperature=0.2, crop_scale=0.2, **(geo | {"lr": (best["lr"] * 2 if best["lr"] == max(args.lrs)
                                                                        else sum(args.lrs[:2]) / 2)}))]
    stage2 += [run(seed=0, temperature=t, crop_scale=0.2, **geo) for t in (0.1, 0.3)]
    stage2 += [run(seed=0, temperature=0.2, crop_scale=0.3, **geo)]
    stage2 = [best] + [r for r in stage2 if r]
    top = max(stage2, key=lambda r: r["knn_top1"])
    final = dict(batch=top["batch"], size=top["image_size"], lr=top["lr"], temperature=top["temperature"],
                 crop_scale=top["crop_scale"])
    # 3. the best recipe and the reference recipe at the same budget, seeds 1 and 2
    for seed in (1, 2):
        run(seed=seed, **final)
        run(seed=seed, batch=256, size=24, lr=1e-3, **base)
    # 4. the best recipe at a third more budget
    run(seed=0, budget_epochs=args.budget_epochs * 4 / 3, **final)
    print(f"best at seed 0: {final}; {len(results)} runs in {time.perf_counter() - start:.0f} s", flush=True)


def verify(args) -> None:
    knobs = {name: parse_value(value) for name, value in args.param}
    s = _session(args.data_root, seed=args.seed, **knobs)
    # The loaded session printed the plain profile; this run trains with the knobs given.
    print("this run's configuration:", ", ".join(f"{k}={v}" for k, v in s.cfg.items()), flush=True)
    model = s.model()
    objective = SimCLRObjective(s.views(), temperature=s.cfg["temperature"])
    t0 = time.perf_counter()
    history = s.train(model, objective)
    train_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    knn = s.evaluate(model, probe=False)["knn_top1"]
    r = dict(seed=args.seed, **knobs, knn_top1=round(knn, 4), train_s=round(train_s, 1),
             eval_s=round(time.perf_counter() - t0, 1), epoch_s=[round(e["time_s"], 1) for e in history.epochs])
    print(json.dumps(r), flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with Path(args.out).open("a") as f:
        f.write(json.dumps(r) + "\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    c = sub.add_parser("cost", help="seconds per training step on this machine, per geometry")
    c.add_argument("--data-root", default=None)
    c.add_argument("--rounds", type=int, default=5)
    c.add_argument("--out", default="runs/recipe/cost.json")
    s = sub.add_parser("sweep", help="kNN top-1 of candidate recipes at a CPU-time budget")
    s.add_argument("--cost", required=True, help="the JSON that `cost` wrote on the CPU")
    s.add_argument("--budget-epochs", type=float, default=6.0,
                   help="CPU time of training per recipe, in epochs of the reference recipe (batch 256, 24 px)")
    s.add_argument("--reference-epochs", type=float, default=10.0, help="the reference recipe's epochs (the first run)")
    s.add_argument("--lrs", type=float, nargs="+", default=[1e-3, 3e-3])
    s.add_argument("--data-root", default=None)
    s.add_argument("--time-limit", type=float, default=480.0, help="start no run after this many seconds")
    s.add_argument("--out", default="runs/recipe/sweep.jsonl")
    v = sub.add_parser("verify", help="one recipe on the full data set, as notebook 01 trains it")
    v.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   help="a knob of the cpu profile, e.g. -p batch_size 128 (repeatable)")
    v.add_argument("--seed", type=int, default=0)
    v.add_argument("--data-root", default=None)
    v.add_argument("--out", default="runs/recipe/verify.jsonl")
    args = ap.parse_args()
    {"cost": measure_cost, "sweep": sweep, "verify": verify}[args.command](args)


if __name__ == "__main__":
    main()
