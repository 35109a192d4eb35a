"""The training command: one encoder of any method of the course, on one process or several, written
where the notebooks load it (``-p checkpoint FILE``) instead of training.

    python -m cl_course.harness.pretrain --method simclr --profile gpu
    python -m cl_course.harness.pretrain --method dcl --set tau_plus=0.1 --profile ci -p epochs 2
    torchrun --nproc_per_node 4 -m cl_course.harness.pretrain --method simclr --profile gpu
    torchrun --nnodes 2 --node_rank 0 --nproc_per_node 8 --master_addr HOST --master_port 29500 \\
        -m cl_course.harness.pretrain --method simclr --profile gpu          # and --node_rank 1 on the other

It lives in the harness (not ``cl_course.pretrain``) because it takes a profile's recipe and the
notebooks' set-up (:func:`~cl_course.harness.session.setup`: data, views, model, fingerprint), which
the library never imports. The objective is the one a notebook builds (the same class, the profile's
temperature, the notebook's defaults for WCL's and Ge et al.'s profile knobs), so the fingerprint
(:func:`cl_course.harness.encoders.fingerprint`) is exactly the one the notebook checks when the file
is passed as its ``checkpoint``.

Several processes: :func:`cl_course.distributed.init_from_env` joins torchrun's process group and
:func:`cl_course.train.fit` trains with DistributedDataParallel, the same global batches and views
as one process, and every loss on the global batch (:mod:`cl_course.distributed`; SyncBatchNorm by
default, ``--no-sync-bn`` to keep each process's own BatchNorm statistics). Rank 0 alone shows the
progress bar and writes files.

Writes, in ``--out`` (default ``runs/pretrain``), under the notebooks' cache name
``<method>-<profile>-seed<k>-<hash>``: ``.pt`` (the encoder, :mod:`cl_course.checkpoints`),
``.state.pt`` (model and optimizer after each epoch: rerunning the command resumes after the last
finished epoch, exactly), ``.log.json`` and ``.log.csv`` (one row per epoch). With several machines,
``--out`` must be a folder every machine reads (to resume) — rank 0 writes it.
"""
from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import sys
from dataclasses import fields
from pathlib import Path

from .. import checkpoints, distributed
from ..evaluate import knn_monitor
from ..objectives import (DebiasedObjective, HardNegativeObjective, NonSemanticObjective, OracleObjective,
                          RingObjective, SimCLRObjective, SupportSetObjective, WCLObjective)
from ..train import History, fit
from . import encoders
from .profiles import ConfigError
from .run import parse_value
from .session import REPO, setup

# name → (objective class, the notebooks' family of profiles it trains in)
METHODS = {
    "simclr": (SimCLRObjective, "contrastive"),
    "hcl": (HardNegativeObjective, "contrastive"),
    "dcl": (DebiasedObjective, "contrastive"),
    "oracle": (OracleObjective, "contrastive"),
    "fnc": (SupportSetObjective, "contrastive"),
    "ring": (RingObjective, "contrastive"),
    "nonsemantic": (NonSemanticObjective, "shortcut"),
    "wcl": (WCLObjective, "shortcut"),
}


def method_knobs(cls) -> list[str]:
    """The knobs ``--set`` can give a method: its objective's fields (the views are not a knob)."""
    return [f.name for f in fields(cls) if f.init and f.name != "views"]


def build_objective(method: str, session, knobs: dict):
    """The objective a notebook builds for ``method`` in ``session``: the profile's temperature, and
    where a notebook takes them from the profile, the ring's batch size (05), the patch sizes (06),
    WCL's biased learning rate (07); ``knobs`` override them."""
    if method not in METHODS:
        raise ConfigError(f"unknown method {method!r}: choose one of {', '.join(METHODS)}")
    cls, _ = METHODS[method]
    cfg = session.cfg
    defaults = {"temperature": cfg["temperature"]}
    if cls is RingObjective:
        defaults["batch_size"] = cfg["batch_size"]
    if cls is NonSemanticObjective:
        defaults["patch_sizes"] = cfg["patch_sizes"]
    if cls is WCLObjective:
        defaults["biased_lr_scale"] = (cfg["biased_lr"] or cfg["lr"]) / cfg["lr"]
    unknown = sorted(set(knobs) - set(method_knobs(cls)))
    if unknown:
        raise ConfigError(f"--set {unknown[0]}: {method} has no such knob; its knobs are {', '.join(method_knobs(cls))}")
    return cls(session.views(), **{**defaults, **knobs})


def write_log(history: History, stem: Path, run: dict) -> None:
    """The epochs so far as ``<stem>.log.json`` (with ``run``: method, processes, ...) and ``<stem>.log.csv``."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.log.json").write_text(json.dumps({**run, "epochs": history.epochs}, indent=2))
    columns = list(dict.fromkeys(k for record in history.epochs for k in record))
    with open(f"{stem}.log.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(history.epochs)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cl_course.harness.pretrain", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", required=True, choices=list(METHODS), help="the method to train")
    parser.add_argument("--set", dest="knobs", action="append", default=[], metavar="KNOB=VALUE",
                        help="a knob of the method, e.g. tau_plus=0.1 (repeatable)")
    parser.add_argument("--profile", default=None, help="ci, cpu, gpu or auto (default: $CL_COURSE_PROFILE, else auto)")
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="a knob of the profile, e.g. -p epochs 200 -p batch_size 1024 (repeatable)")
    parser.add_argument("--family", choices=("contrastive", "shortcut"), default=None,
                        help="the profiles of notebooks 01-05 or of 06-07 (default: the method's notebook)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-root", default=None, help="folder of the data sets (default: $CL_COURSE_DATA, else ./data)")
    parser.add_argument("--out", default=str(REPO / "runs" / "pretrain"), help="where the files go")
    parser.add_argument("--no-resume", action="store_true", help="start afresh even where an earlier run left its state")
    parser.add_argument("--no-sync-bn", action="store_true",
                        help="several processes: keep each process's BatchNorm statistics (not the global batch's)")
    parser.add_argument("--no-monitor", action="store_true", help="no kNN accuracy after each epoch")
    parser.add_argument("--backend", default=None, help="torch.distributed backend (default: nccl with CUDA, else gloo)")
    parser.add_argument("--stop-after-epochs", type=int, default=None,
                        help="stop after this many epochs of this call (resume later by running the command again)")
    args = parser.parse_args(argv)
    try:
        args.knobs = dict(_key_value(text) for text in args.knobs)
    except ValueError as exc:
        parser.error(str(exc))
    args.param = {name: parse_value(value) for name, value in args.param}
    return args


def _key_value(text: str) -> tuple[str, object]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise ValueError(f"--set takes KNOB=VALUE, got {text!r}")
    return name.strip(), parse_value(value.strip())


def main(argv: list[str] | None = None) -> Path | None:
    """Train as the command line says; return the encoder's path (rank 0; ``None`` elsewhere or when
    stopped before the last epoch)."""
    args = parse_args(argv)
    shard, device = distributed.init_from_env(args.backend)
    main_process = shard is None or shard.is_main
    try:
        family = args.family or METHODS[args.method][1]
        quiet_setup = contextlib.nullcontext() if main_process else contextlib.redirect_stdout(io.StringIO())
        with quiet_setup:
            session = setup("pretrain", profile=args.profile, seed=args.seed, data_root=args.data_root,
                            output_dir=args.out, family=family, **args.param)
        session.device = device  # this process's device (cuda:LOCAL_RANK under torchrun)
        objective = build_objective(args.method, session, args.knobs)
        cfg = session.cfg
        fingerprint = encoders.fingerprint(session, objective, cfg["epochs"])
        stem = Path(args.out) / checkpoints.file_name(fingerprint, session.profile).removesuffix(".pt")
        model = encoders.build(session, objective)
        sync_bn = shard is not None and not args.no_sync_bn
        if sync_bn:
            model = distributed.sync_batchnorm(model, device)
        run = {"method": args.method, "knobs": objective.knobs(), "profile": session.profile, "seed": args.seed,
               "processes": shard.world if shard else 1, "sync_batchnorm": sync_bn, "encoder": f"{stem}.pt"}
        distributed.print0(f"training {objective.knobs()} for {cfg['epochs']} epochs at global batch "
                           f"{cfg['batch_size']} on {run['processes']} process(es) ({device}); writing {stem}.pt")
        monitor = None
        if main_process and not args.no_monitor:
            monitor = knn_monitor(session.data, objective.views, cfg["monitor_bank"], cfg["monitor_queries"],
                                  k=cfg["knn_k"], device=device)
        history = fit(model, objective, session.data.x_train, session.data.y_train, epochs=cfg["epochs"],
                      batch_size=cfg["batch_size"], lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                      optimizer=cfg["optimizer"], warmup_epochs=cfg["warmup_epochs"], seed=args.seed, device=device,
                      monitor=monitor, checkpoint=f"{stem}.state.pt", resume=not args.no_resume,
                      stop_after_epochs=args.stop_after_epochs, fingerprint=fingerprint, shard=shard,
                      on_epoch=lambda h: write_log(h, stem, run))
        if not main_process or len(history.epochs) < cfg["epochs"]:
            distributed.print0(f"stopped after epoch {len(history.epochs)}; run the command again to resume")
            return None
        path = checkpoints.save_encoder(f"{stem}.pt", model, fingerprint, history.epochs)
        print(f"wrote {path}: load it in a notebook with -p checkpoint {path}", flush=True)
        return path
    except BaseException:
        distributed.finish(wait=False)  # no barrier: another process may never reach it
        raise
    finally:
        distributed.finish()


if __name__ == "__main__":
    try:
        main()
    except ConfigError as exc:
        sys.exit(f"error: {exc}")
