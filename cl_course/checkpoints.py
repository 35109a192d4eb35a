"""Trained encoders on disk, with a fingerprint of everything that shaped them.

One format serves the shared SimCLR start of notebooks 03-05, the checkpoints the training command
(``python -m cl_course.harness.pretrain``) writes, and the ``checkpoint`` parameter of every notebook::

    {"format": FORMAT, "model": state_dict, "fingerprint": {...}, "history": [epoch records]}

Files are written atomically and read with ``torch.load(..., weights_only=True)``: a file that
holds anything but tensors and plain values is refused, never unpickled. A fingerprint is a plain
dict (recipe values, seed, data set, model shapes, :func:`code_version`); a file whose fingerprint
differs from the one asked for raises :class:`~cl_course.train.CheckpointError` naming what
differs, so a cache is retrained rather than silently reused.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import io
import os
import sys
import tokenize
from pathlib import Path

import torch
from torch import nn

from .train import CheckpointError, differences

FORMAT = "cl_course.encoder.v1"
PACKAGE = Path(__file__).resolve().parent


# The modules every training run goes through; an objective adds its own module and the cl_course
# modules it calls (its losses, negatives, models).
CORE_MODULES = ("train.py", "distributed.py", "augment.py", "models.py", "data.py", "objectives/base.py",
                "losses/similarity.py")


def code_version(objective=None, extra: tuple[str, ...] = ()) -> str:
    """A short hash of the source that trains an encoder: :data:`CORE_MODULES`, ``extra`` modules
    (paths in the package, e.g. ``"shortcuts.py"`` for the biased data sets), and for ``objective``
    its module and every ``cl_course`` module whose functions or classes that module uses (so a change
    to FNC's code invalidates FNC's encoders, not SimCLR's). What is hashed is each file's
    :func:`code_lines`: docstrings, comments, blank lines and line endings do not count, so a change
    to the documentation keeps every cached encoder."""
    files = {PACKAGE / name for name in (*CORE_MODULES, *extra)}
    if objective is not None:
        module = sys.modules[type(objective).__module__]
        files.add(Path(module.__file__))
        for value in vars(module).values():
            owner = sys.modules.get(getattr(value, "__module__", "") or "")
            if owner is not None and owner.__name__.startswith("cl_course.") and getattr(owner, "__file__", None):
                files.add(Path(owner.__file__))
    digest = hashlib.sha256()
    for path in sorted(f.resolve() for f in files):
        digest.update(path.relative_to(PACKAGE).as_posix().encode())
        digest.update(code_lines(path.read_text(encoding="utf-8")).encode())
    return digest.hexdigest()[:12]


@functools.lru_cache(maxsize=128)  # every fingerprint of a notebook hashes the same few files
def code_lines(source: str) -> str:
    """``source`` (Python) without what does not run: docstrings that stand on lines of their own,
    comments, blank lines; the lines that remain are kept as written (indentation included), one
    per line. Comments are found by the tokenizer, docstrings by the parser, so a ``#`` or a blank
    line inside a string literal still counts."""
    source = source.replace("\r\n", "\n").replace("\r", "\n")
    lines = source.split("\n")  # the tokenizer's rows (str.splitlines would also split at form feeds)
    code_rows: set[int] = set()  # 1-based rows that hold a token other than a comment
    comment_at: dict[int, int] = {}  # row -> column where its comment starts
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comment_at[tok.start[0]] = tok.start[1]
        elif tok.type not in (tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            code_rows.update(range(tok.start[0], tok.end[0] + 1))
    for row in _docstring_rows(source, lines):
        code_rows.discard(row)
    kept = []
    for row in sorted(code_rows):
        line = lines[row - 1]
        if row in comment_at:
            line = line[:comment_at[row]].rstrip()
        kept.append(line)
    return "\n".join(kept)


def _docstring_rows(source: str, lines: list[str]) -> set[int]:
    # The rows of every module, class and function docstring that has its lines to itself (nothing
    # but indentation before it, nothing but a comment after it), so no code shares a dropped row.
    rows: set[int] = set()
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) or not node.body:
            continue
        doc = node.body[0]
        if not (isinstance(doc, ast.Expr) and isinstance(doc.value, ast.Constant) and isinstance(doc.value.value, str)):
            continue
        before = lines[doc.lineno - 1].encode()[:doc.col_offset]  # ast's columns count UTF-8 bytes
        after = lines[doc.end_lineno - 1].encode()[doc.end_col_offset:].strip()
        if before.strip() == b"" and (after == b"" or after.startswith(b"#")):
            rows.update(range(doc.lineno, doc.end_lineno + 1))
    return rows


def fingerprint_hash(fingerprint: dict) -> str:
    """8 hex characters naming a fingerprint (for file names; the file itself holds the full dict)."""
    return hashlib.sha256(repr(sorted(fingerprint.items())).encode()).hexdigest()[:8]


def file_name(fingerprint: dict, profile: str) -> str:
    """The file name an encoder is cached under: ``<method>-<profile>-seed<k>-<hash>.pt``. The
    notebooks' cache and ``python -m cl_course.harness.pretrain`` both name files so, which lets a folder of
    checkpoints stand in for a cache (``-p checkpoint FOLDER``)."""
    method = str((fingerprint.get("method") or {}).get("method", "encoder")).lower()
    method = "".join(ch if ch.isalnum() else "-" for ch in method)
    return f"{method}-{profile}-seed{fingerprint.get('seed')}-{fingerprint_hash(fingerprint)}.pt"


def save_encoder(path: str | os.PathLike, model: nn.Module, fingerprint: dict,
                 history: list[dict] | None = None) -> Path:
    """Write ``model``'s state (on the CPU) with ``fingerprint`` and its training ``history`` to ``path``
    (atomically: a reader never sees half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save({"format": FORMAT, "model": state, "fingerprint": fingerprint, "history": list(history or [])}, tmp)
    tmp.replace(path)
    return path


def read_encoder(path: str | os.PathLike) -> dict:
    """The record saved in ``path`` (``weights_only=True``), checked to be of this format.

    Raises:
        FileNotFoundError: no such file. CheckpointError: unreadable, or not an encoder checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        record = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated file, not a torch file, or objects that are not plain values
        reason = (str(exc).splitlines() or [""])[0][:120]
        raise CheckpointError(f"the checkpoint {path} cannot be read ({type(exc).__name__}: {reason}); "
                              "delete it, or train it again") from None
    if not isinstance(record, dict) or record.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not an encoder checkpoint of cl_course (format {FORMAT!r}: model, "
                              "fingerprint, history); write one with cl_course.checkpoints.save_encoder or "
                              "python -m cl_course.harness.pretrain")
    return record


def load_encoder(path: str | os.PathLike, model: nn.Module, fingerprint: dict | None) -> dict:
    """Load the encoder saved in ``path`` into ``model`` and return its record; with a ``fingerprint``,
    only when the saved one equals it.

    Raises:
        CheckpointError: unreadable, not an encoder checkpoint, or saved by a run shaped otherwise
            (the message lists every value that differs).
    """
    record = read_encoder(path)
    saved = record.get("fingerprint")
    if fingerprint is not None and saved != fingerprint:
        diff = differences(saved, fingerprint) if isinstance(saved, dict) else ["no fingerprint saved"]
        raise CheckpointError(f"the checkpoint {path} was trained otherwise than this run asks "
                              f"({'; '.join(diff)}); train it again for this run, or run with the settings it "
                              "was trained with")
    try:
        model.load_state_dict(record["model"])
    except RuntimeError as exc:
        raise CheckpointError(f"the checkpoint {path} does not fit this model: {str(exc).splitlines()[0]}") from None
    return record


# The recipe values that shape a trained encoder (a profile's training knobs; sizes of evaluation are not).
RECIPE_KEYS = ("dataset", "rho", "n_train", "encoder", "width", "stages", "stem_stride", "image_size", "crop_scale",
               "epochs", "batch_size", "lr", "weight_decay", "optimizer", "warmup_epochs")


def encoder_fingerprint(*, recipe: dict, seed: int, method: dict, data: str, n_images: int,
                        model: nn.Module, code: str | None = None) -> dict:
    """The fingerprint of an encoder trained with ``recipe`` (a profile's values; the keys of
    :data:`RECIPE_KEYS` it has), ``seed``, ``method`` (an objective's ``knobs()``) on ``n_images``
    images of the data set ``data``, for ``model``'s parameter shapes, by this code (``code``:
    :func:`code_version` of the objective; the core modules' when not given). The notebooks and ``python -m cl_course.harness.pretrain`` both build it here,
    so a checkpoint from either fits the other exactly when the runs were shaped alike."""
    return {"recipe": {k: recipe[k] for k in RECIPE_KEYS if k in recipe}, "seed": int(seed),
            "method": dict(method), "data": str(data), "n_images": int(n_images),
            "model": {name: list(t.shape) for name, t in model.state_dict().items()},
            "code": code if code is not None else code_version()}
