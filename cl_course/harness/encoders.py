"""Trained encoders a notebook reuses instead of training again.

* **The shared start.** Notebook 01's SimCLR encoder, trained with the profile's recipe for the
  run's seed, is the starting point of 03-05: their variants are fine-tuned from it for the same
  number of steps (SimCLR included). :meth:`Session.shared_start` loads it from the cache when 01
  (or an earlier notebook) left it there, and trains it otherwise.
* **The cache.** Every encoder a notebook trains through :meth:`Session.compare` or
  :meth:`Session.shared_start` is saved in ``<output_dir>/cache`` (``$CL_COURSE_CACHE`` overrides)
  under the fingerprint of everything that shaped it (:func:`cl_course.checkpoints.encoder_fingerprint`:
  recipe, seed, method and knobs, data, model shapes, the library's code version, and the start it
  was fine-tuned from). A rerun with the same settings loads it; anything else trains anew — a
  cache is never reused for a run shaped otherwise.
* **A checkpoint parameter.** ``-p checkpoint FILE`` (a file written by ``python -m cl_course.harness.pretrain``
  or taken from a cache) is used for the encoder it fits; one trained with another recipe, seed,
  data set or code is refused at set-up, naming what differs. ``-p checkpoint FOLDER`` (a cache a
  lab filled on a GPU server, or the training command's output folder) is searched for every
  encoder the notebook needs, by fingerprint; what is not there is trained.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from torch import nn

from .. import checkpoints
from ..train import CheckpointError, History, differences


@dataclass
class TrainedEncoder:
    """A model trained (or loaded) for a notebook: its history, fingerprint and file."""

    model: nn.Module
    history: History
    fingerprint: dict
    path: Path
    loaded: bool  # True when it came from the cache or a checkpoint rather than training here


def cache_dir(output_dir: Path) -> Path:
    """``$CL_COURSE_CACHE`` if set, else ``output_dir/cache``."""
    env = os.environ.get("CL_COURSE_CACHE")
    return Path(env).expanduser() if env else Path(output_dir) / "cache"


def build(session, objective, seed: int | None = None) -> nn.Module:
    """A freshly initialised model for ``objective`` (its own ``build_model`` where it has one)."""
    make = getattr(objective, "build_model", None)
    return make(session.model, session.seed if seed is None else seed) if make is not None else session.model()


def _unseen(session, objective) -> dict:
    """What shapes a trained encoder that neither the recipe nor the objective's knobs record: its views
    (colour jitter or crops only: notebook 06 trains SimCLR both ways with the same knobs) and, on a
    biased data set, the bias ``rho`` and the stream its colours are drawn from."""
    from dataclasses import fields, is_dataclass

    from ..shortcuts import _COLOUR_STREAM
    views = getattr(objective, "views", None)
    # the views' own settings (init fields), as text: comparable, and stored alike in a checkpoint
    out = {"views": {f.name: repr(getattr(views, f.name)) for f in fields(views)
                     if f.init and not f.name.startswith("_")}} if is_dataclass(views) else {}
    if "rho" in session.cfg:
        out.update(rho=session.cfg["rho"], colour_stream=_COLOUR_STREAM)
    return out


def fingerprint(session, objective, epochs: float, start: TrainedEncoder | None = None,
                model: nn.Module | None = None) -> dict:
    """What shapes ``objective`` trained for ``epochs`` in this session (from ``start`` if given);
    ``model``: the freshly built model, when the caller has one (else one is built for its shapes)."""
    fp = checkpoints.encoder_fingerprint(
        recipe={**session.cfg, "epochs": epochs}, seed=session.seed, method={**objective.knobs(), **_unseen(session, objective)},
        data=session.data.name, n_images=len(session.data.x_train), model=model if model is not None else build(session, objective),
        code=checkpoints.code_version(objective, ("shortcuts.py",) if session.family == "shortcut" else ()))
    if start is not None:
        fp["start"] = start.fingerprint
    return fp


def check_checkpoint(session, path) -> dict:
    """Read the checkpoint given as a notebook parameter and refuse it at set-up when it was trained
    with another recipe, seed or data set than this session's (the method, and the code that trains
    it, are matched when an encoder is asked for). Returns its fingerprint."""
    record = checkpoints.read_encoder(path)
    saved = record.get("fingerprint") or {}
    recipe = {k: session.cfg[k] for k in checkpoints.RECIPE_KEYS if k in session.cfg and k != "epochs"}
    now = {"recipe": recipe, "seed": session.seed, "data": session.data.name, "n_images": len(session.data.x_train)}
    was = {**{k: saved.get(k) for k in now}, "recipe": {k: (saved.get("recipe") or {}).get(k) for k in recipe}}
    if was != now:
        raise CheckpointError(f"the checkpoint {path} does not fit this run ({'; '.join(differences(was, now))}); "
                              "run the notebook with the settings it was trained with, or train one for these")
    return saved


def obtain(session, objective, epochs: float, *, start: TrainedEncoder | None = None,
           monitor: bool = True) -> TrainedEncoder:
    """``objective`` trained for ``epochs`` (fine-tuned from a copy of ``start`` if given): from the
    session's checkpoint when it fits, else from the cache when an identical run left it there,
    else trained now and cached."""
    model = build(session, objective)
    fp = fingerprint(session, objective, epochs, start, model)
    name = checkpoints.file_name(fp, session.profile)
    given = session.checkpoint
    if given is not None and given.is_dir():
        given = given / name if (given / name).exists() else None
    elif given is not None and not (session.checkpoint_fingerprint.get("method") == fp["method"]
                                    and session.checkpoint_fingerprint.get("recipe", {}).get("epochs") == epochs
                                    and start is None):
        given = None
    if given is not None:
        record = checkpoints.load_encoder(given, model, fp)
        session.checkpoint_used = True
        print(f"loaded {objective.knobs().get('method')} from the checkpoint {given} (not trained here)")
        return TrainedEncoder(model.to(session.device).eval(), History(list(record["history"])), fp, Path(given), True)
    path = cache_dir(session.output_dir) / name
    if path.exists():
        try:
            record = checkpoints.load_encoder(path, model, fp)
        except CheckpointError as exc:  # a damaged file or a hash clash: never reused, trained again
            print(f"not reusing the cache: {exc}")
        else:
            print(f"loaded from the cache {path} (trained by an earlier run with these settings; "
                  "delete the file to train again)")
            return TrainedEncoder(model.to(session.device).eval(), History(list(record["history"])), fp, path, True)
    if start is not None:
        model.load_state_dict(start.model.state_dict())
    history = session.train(model, objective, epochs=epochs, monitor=monitor)
    checkpoints.save_encoder(path, model, fp, history.epochs)
    return TrainedEncoder(model, history, fp, path, False)

