"""The course runner: execute notebooks with papermill into a run folder and tabulate the results.

    python -m cl_course.harness.run                                  # every notebook, profile auto
    python -m cl_course.harness.run 01 --profile ci --name smoke     # by number or stem
    python -m cl_course.harness.run 01 -p temperature 0.2 -p epochs 3 --name t02
    python -m cl_course.harness.run --profile cpu -P compare_epochs 5     # where a notebook has it
    python -m cl_course.harness.run 03 --profile cpu --seeds 0 1 2 --name cpu-03   # runs/cpu-03-seed0..2 + seeds.md

Writes ``runs/<name>/``: the executed notebooks, each notebook's JSON, ``summary.csv`` and
``summary.md``. Exits 1 naming the notebook and cell when one fails (the others still run).
"""
from __future__ import annotations

import argparse
import ast
import json
import os
import sys
import time
from pathlib import Path

from .parameters import notebook_defaults, unknown_parameter
from .results import FAILURES, seed_table, write_summary

REPO = Path(__file__).resolve().parent.parent.parent
NOTEBOOKS = REPO / "notebooks"


def parse_value(text: str):
    """``-p`` values as papermill reads them: numbers, booleans, None, lists; else the string."""
    aliases = {"true": True, "false": False, "none": None, "null": None}
    if text.lower() in aliases:
        return aliases[text.lower()]
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def find_notebooks(selectors: list[str]) -> list[Path]:
    """Notebooks by number prefix (``01``), stem or path; all of ``notebooks/`` when empty."""
    available = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not selectors:
        return available
    chosen = []
    for sel in selectors:
        path = Path(sel)
        if path.suffix == ".ipynb" and path.exists():
            chosen.append(path.resolve())
            continue
        matches = [p for p in available if p.stem == sel or p.stem.startswith(sel + "_")]
        if not matches:
            names = ", ".join(p.stem for p in available)
            raise SystemExit(f"no notebook matches {sel!r}; available: {names}")
        chosen.extend(matches)
    return chosen


def check_parameters(notebooks: list[Path], params: dict) -> None:
    """Stop before any work when a parameter is not one of a notebook's (papermill would only warn
    and run on with the default), naming it, the notebook and the closest known names."""
    for nb in notebooks:
        known = notebook_defaults(nb.stem, nb.parent) or {}
        for name in params:
            if name not in known:
                raise SystemExit(str(unknown_parameter(name, known, nb.stem)))


def check_somewhere_known(notebooks: list[Path], params: dict) -> None:
    """Stop before any work when a ``-P`` parameter is in no notebook of the course (a typo): the
    selected notebooks and the numbered ones beside them."""
    course = {p for nb in notebooks for p in nb.parent.glob("[0-9][0-9]_*.ipynb")} | set(notebooks)
    known = set().union(*[(notebook_defaults(nb.stem, nb.parent) or {}) for nb in course])
    for name in params:
        if name not in known:
            raise SystemExit(str(unknown_parameter(name, known, "the course's notebooks")))


# Parameters and environment variables that name files or folders. papermill starts each kernel in
# notebooks/, so a relative path would be read from there; the runner resolves it first, against the
# folder it was started in (the repository root under scripts/course.sh), where the user meant it.
PATH_PARAMETERS = ("data_root", "checkpoint")
PATH_VARIABLES = ("CL_COURSE_CACHE", "CL_COURSE_DATA")


def resolve_paths(params: dict) -> dict:
    """``params`` with each path parameter (``PATH_PARAMETERS``) made absolute against the current folder."""
    return {k: str(Path(v).expanduser().resolve()) if k in PATH_PARAMETERS and isinstance(v, str) and v else v
            for k, v in params.items()}


def resolve_path_variables() -> None:
    """Make ``$CL_COURSE_CACHE`` and ``$CL_COURSE_DATA`` absolute against the current folder (the
    kernels inherit them)."""
    for name in PATH_VARIABLES:
        if os.environ.get(name):
            os.environ[name] = str(Path(os.environ[name]).expanduser().resolve())


def parameters_for(nb: Path, params: dict, where_known: dict) -> dict:
    """``params`` and the ``where_known`` ones that notebook ``nb`` has."""
    known = notebook_defaults(nb.stem, nb.parent) or {}
    return {**params, **{k: v for k, v in where_known.items() if k in known}}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cl_course.harness.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", help="numbers (01), stems or paths; default: all")
    parser.add_argument("--profile", default=None, help="ci | cpu | gpu | auto (default: $CL_COURSE_PROFILE or auto)")
    parser.add_argument("--name", default=None, help="run folder name under --runs-dir (default: a timestamp)")
    parser.add_argument("--runs-dir", default=str(REPO / "runs"))
    parser.add_argument("--data-root", default=None, help="folder with cifar10.npz etc. (default: $CL_COURSE_DATA or data/)")
    parser.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override a notebook parameter (repeatable); every selected notebook must have it")
    parser.add_argument("-P", "--parameter-where-known", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                        help="override it only in the notebooks that have it (e.g. -P compare_epochs 5 for the course); "
                             "some notebook of the course must have it")
    parser.add_argument("--seeds", type=int, nargs="+", default=None,
                        help="run everything once per seed into <name>-seed<k>/ and write <name>-seeds.md (mean ± std)")
    parser.add_argument("--timeout", type=int, default=None, help="seconds per cell (default: none)")
    parser.add_argument("--log-output", action="store_true", help="stream the notebooks' output (epoch lines) here")
    args = parser.parse_args(argv)

    import logging

    import papermill as pm

    if args.log_output:
        logging.basicConfig(level=logging.INFO, format="%(message)s")

    notebooks = find_notebooks(args.notebooks)
    name = args.name or time.strftime("%Y%m%d-%H%M%S")
    params = {key: parse_value(value) for key, value in args.parameter}
    if args.profile is not None:
        params["profile"] = args.profile
    if args.data_root is not None:
        params["data_root"] = args.data_root
    params = resolve_paths(params)
    check_parameters(notebooks, {**params, **({"seed": 0} if args.seeds else {}), "output_dir": ""})
    where_known = resolve_paths({key: parse_value(value) for key, value in args.parameter_where_known})
    check_somewhere_known(notebooks, where_known)
    resolve_path_variables()
    os.environ["CL_COURSE_QUIET"] = "1"  # one line per epoch instead of progress bars
    if args.seeds is None:
        return run_once(pm, notebooks, Path(args.runs_dir) / name, params, args, where_known)
    codes, dirs = [], []
    for seed in args.seeds:
        dirs.append(Path(args.runs_dir) / f"{name}-seed{seed}")
        codes.append(run_once(pm, notebooks, dirs[-1], {**params, "seed": seed}, args, where_known))
    _, table = seed_table(dirs)
    out = Path(args.runs_dir) / f"{name}-seeds.md"
    out.write_text(table)
    print(f"\nover seeds {args.seeds} ({out}):\n{table}")
    return max(codes)


def run_once(pm, notebooks: list[Path], run_dir: Path, params: dict, args, where_known: dict | None = None) -> int:
    """Execute ``notebooks`` into ``run_dir`` with ``params`` (and each notebook's share of
    ``where_known``); write the summary; 1 if any failed."""
    run_dir.mkdir(parents=True, exist_ok=True)
    params = {**params, "output_dir": str(run_dir.resolve())}
    failures_path = run_dir / FAILURES
    failures: dict[str, str] = json.loads(failures_path.read_text()) if failures_path.is_file() else {}
    for nb in notebooks:
        out = run_dir / nb.name
        # An earlier run's results of this notebook must never pass for this run's.
        for stale in (out, run_dir / f"{nb.stem}.json"):
            stale.unlink(missing_ok=True)
        failures.pop(nb.stem, None)
        nb_params = parameters_for(nb, params, where_known or {})
        print(f"==> {nb.stem}  ({', '.join(f'{k}={v}' for k, v in nb_params.items())})", flush=True)
        t0 = time.perf_counter()
        try:
            pm.execute_notebook(str(nb), str(out), parameters=nb_params, kernel_name="python3",
                                cwd=str(nb.parent), progress_bar=False, log_output=args.log_output,
                                execution_timeout=args.timeout)
            print(f"    done in {time.perf_counter() - t0:.1f} s -> {out}", flush=True)
        except pm.PapermillExecutionError as exc:
            where = f"cell {exc.cell_index} (execution count {exc.exec_count})"
            failures[nb.stem] = f"{where}: {exc.ename}: {exc.evalue}"
            print(f"FAILED {nb.stem} at {where}: {exc.ename}: {exc.evalue}\n    see {out}", file=sys.stderr, flush=True)
        except Exception as exc:  # kernel died, timeout, bad notebook
            failures[nb.stem] = f"{type(exc).__name__}: {exc}"
            print(f"FAILED {nb.stem}: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
    failures_path.write_text(json.dumps(failures, indent=2))
    table = write_summary(run_dir, failures)
    print(f"\nsummary ({run_dir / 'summary.md'}):\n{table}")
    failed_now = [nb.stem for nb in notebooks if nb.stem in failures]  # this call's, not earlier calls' in the folder
    if failed_now:
        print(f"{len(failed_now)} of {len(notebooks)} notebook(s) failed: {', '.join(failed_now)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
