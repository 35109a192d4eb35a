"""The results contract: read the notebooks' JSON files of run folders and tabulate them with
pandas: the run's summary (``summary.csv``/``summary.md``), mean ± std over seeds, whole-notebook
wall times per profile and device, and every method of the course side by side (notebook 08)."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..evaluate import GROUP_KEYS
from .labels import label

FAILURES = "failures.json"  # the runner's record of the notebooks that failed in a run folder
HEADLINE = ("knn_top1", "linear_top1", "detection_precision", "detection_recall",
            "worst_group_acc", "bias_conflicting_acc")
FIXED = ["notebook", "status", "variant", "profile", "dataset", "seed", "wall_time_s"]


def read_failures(run_dir: str | Path) -> dict[str, str]:
    """``{notebook: why}`` for the notebooks the runner saw fail in ``run_dir`` (empty if none)."""
    path = Path(run_dir) / FAILURES
    return json.loads(path.read_text()) if path.is_file() else {}


def read_results(run_dir: str | Path) -> list[dict]:
    """Every ``*.json`` record in ``run_dir``, sorted by notebook."""
    records = []
    for path in sorted(Path(run_dir).glob("*.json")):
        record = json.loads(path.read_text())
        if isinstance(record, dict) and "notebook" in record and "metrics" in record:
            records.append(record)
    return records


def find_run_dirs(paths: list[str | Path]) -> list[Path]:
    """The run folders in ``paths``: a folder holding notebook records is one; any other folder
    is searched below (e.g. ``runs/``). Sorted, each once."""
    found: list[Path] = []
    for p in map(Path, paths):
        if read_results(p) or (p / FAILURES).is_file():
            found.append(p)
        elif p.is_dir():
            found += sorted({j.parent for j in p.rglob("*.json") if read_results(j.parent)})
    return list(dict.fromkeys(found))


def summary_rows(records: list[dict], failures: dict[str, str] | None = None) -> list[dict]:
    """One row per notebook (its headline metrics) and one per named variant; a failed notebook
    gets one row with its status and no figures."""
    rows = []
    for notebook, why in (failures or {}).items():
        rows.append({"notebook": notebook, "status": f"FAILED: {why}", "variant": ""})
    for r in records:
        if r["notebook"] in (failures or {}):
            continue  # never report figures of a notebook that failed in this run
        base = {"notebook": r["notebook"], "status": "ok", "variant": "", "profile": r.get("profile", ""),
                "dataset": r.get("dataset", ""), "seed": r.get("seed", ""),
                "wall_time_s": r.get("wall_time_s", "")}
        rows.append({**base, **{k: v for k, v in r["metrics"].items() if _scalar(v)}})
        for name, metrics in (r.get("variants") or {}).items():
            rows.append({**base, "variant": name, "wall_time_s": "",
                         **{k: v for k, v in metrics.items() if _scalar(v)}})
    return rows


def _scalar(v) -> bool:
    return isinstance(v, (int, float, str)) and not isinstance(v, bool)


def _metric_order(keys) -> list[str]:
    return sorted(set(keys) - set(FIXED), key=lambda k: (k not in HEADLINE, HEADLINE.index(k) if k in HEADLINE else 0, k))


def summary_frame(rows: list[dict]) -> pd.DataFrame:
    """The summary rows as a table: the fixed columns, then the headline metrics, then the rest
    by name; a figure a row lacks is empty."""
    cols = FIXED + _metric_order({k for r in rows for k in r})
    return pd.DataFrame(rows, columns=cols, dtype=object).fillna("")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def markdown(frame: pd.DataFrame, fmt=_fmt) -> str:
    """A GitHub table of ``frame`` (pandas' ``to_markdown``), each cell written by ``fmt``."""
    if frame.empty:
        frame = pd.DataFrame(columns=frame.columns)
    text = frame.map(fmt).to_markdown(index=False, disable_numparse=True, tablefmt="github")
    return text + "\n"


def write_summary(run_dir: str | Path, failures: dict[str, str] | None = None) -> str:
    """Write ``summary.csv`` and ``summary.md`` into ``run_dir``; return the markdown table.
    ``failures`` (default: the runner's ``failures.json``) are marked as such, without figures."""
    run_dir = Path(run_dir)
    failures = read_failures(run_dir) if failures is None else failures
    frame = summary_frame(summary_rows(read_results(run_dir), failures))
    frame.to_csv(run_dir / "summary.csv", index=False)
    table = markdown(frame) + "".join(f"\n**FAILED** {nb}: {why}\n" for nb, why in failures.items())
    (run_dir / "summary.md").write_text(table)
    return table


def seed_frame(run_dirs: list[str | Path], metrics=("knn_top1",)) -> pd.DataFrame:
    """Long table of every (run folder, notebook, variant, metric) figure of ``metrics``, the
    notebook's own headline figures as variant ``(headline)``; notebooks that failed in a folder
    contribute nothing from it. Columns: run, notebook, variant, profile, dataset, device, seed,
    metric, value."""
    rows = []
    for d in run_dirs:
        failures = read_failures(d)
        for record in read_results(d):
            if record["notebook"] in failures:
                continue
            entries = {"(headline)": record["metrics"], **(record.get("variants") or {})}
            for variant, figures in entries.items():
                for metric in metrics:
                    value = figures.get(metric)
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        rows.append({"run": Path(d).name, "notebook": record["notebook"], "variant": variant,
                                     "profile": record.get("profile", ""), "dataset": record.get("dataset", ""),
                                     "device": record.get("device", ""), "seed": record.get("seed"),
                                     "metric": metric, "value": float(value)})
    cols = ["run", "notebook", "variant", "profile", "dataset", "device", "seed", "metric", "value"]
    return pd.DataFrame(rows, columns=cols)


def seed_table(run_dirs: list[str | Path], metric: str = "knn_top1") -> tuple[list[dict], str]:
    """Mean ± std over seeds of ``metric`` for every (notebook, variant) found in ``run_dirs``
    (one folder per seed). Returns the rows and a markdown table."""
    frame = seed_frame(run_dirs, (metric,))
    failed: dict[str, list] = {}
    for d in run_dirs:
        for notebook in read_failures(d):
            failed.setdefault(notebook, []).append(Path(d).name)
    rows = []
    for (notebook, variant), part in frame.groupby(["notebook", "variant"], sort=False):
        by_seed = part.drop_duplicates("seed", keep="last")
        xs = by_seed["value"].tolist()
        rows.append({"notebook": notebook, "variant": variant, "profile": part["profile"].iloc[0],
                     "n_seeds": len(xs), "seeds": sorted(by_seed["seed"].tolist()), "mean": float(by_seed["value"].mean()),
                     "std": float(by_seed["value"].std()) if len(xs) > 1 else 0.0, "values": xs,
                     "failed_in": failed.get(notebook, [])})
    for notebook, where in failed.items():
        if not any(r["notebook"] == notebook for r in rows):
            rows.append({"notebook": notebook, "variant": "(headline)", "profile": "", "n_seeds": 0, "seeds": [],
                         "mean": float("nan"), "std": float("nan"), "values": [], "failed_in": where})
    table = pd.DataFrame({
        "notebook": [r["notebook"] for r in rows], "variant": [r["variant"] for r in rows],
        "profile": [r["profile"] for r in rows], "seeds": [len(r["seeds"]) for r in rows],
        f"{metric} mean ± std": [f"{r['mean']:.4f} ± {r['std']:.4f}" for r in rows],
        "failed in": [", ".join(r["failed_in"]) or "-" for r in rows]})
    return rows, markdown(table)


# --- whole-notebook wall time per profile and device ---------------------------------------------
BUDGET_KEYS = ("epochs", "compare_epochs", "sweep_epochs", "n_train")


def _budget(parameters: dict) -> str:
    parts = [f"{k} {parameters[k]}" for k in BUDGET_KEYS if parameters.get(k) is not None]
    return ", ".join(parts)


def timing_frame(paths: list[str | Path]) -> pd.DataFrame:
    """One row per notebook record found under ``paths`` (run folders or folders of them): its
    notebook, profile, device, data set, budget, seed, run folder and ``wall_time_s`` (the
    whole notebook, from ``setup`` to ``finish``, as the JSON records it). A notebook the runner
    saw fail in a folder is left out there."""
    rows = []
    for d in find_run_dirs(paths):
        failed = read_failures(d)
        for r in read_results(d):
            if isinstance(r.get("wall_time_s"), (int, float)) and r["notebook"] not in failed:
                rows.append({"notebook": r["notebook"], "profile": r.get("profile", ""), "device": r.get("device", ""),
                             "dataset": r.get("dataset", ""), "budget": _budget(r.get("parameters") or {}),
                             "seed": r.get("seed"), "run": str(d), "wall_time_s": float(r["wall_time_s"])})
    cols = ["notebook", "profile", "device", "dataset", "budget", "seed", "run", "wall_time_s"]
    return pd.DataFrame(rows, columns=cols)


def timing_table(paths: list[str | Path]) -> str:
    """Markdown: whole-notebook wall time per notebook, profile, device (and data set and budget,
    which the time depends on): the mean over the records found, their range and count."""
    frame = timing_frame(paths)
    if frame.empty:
        return "no notebook records (JSON with wall_time_s) found under " + ", ".join(map(str, paths)) + "\n"
    keys = ["notebook", "profile", "device", "dataset", "budget"]
    agg = frame.groupby(keys, sort=True)["wall_time_s"].agg(["mean", "min", "max", "count"]).reset_index()

    def cell(row):
        spread = f" ({row['min']:.0f}–{row['max']:.0f})" if row["count"] > 1 else ""
        return f"{row['mean']:.0f}{spread}"

    table = agg[keys].copy()
    table["runs"] = agg["count"].astype(str)
    table["wall time (s)"] = agg.apply(cell, axis=1)
    return markdown(table, fmt=str)


# --- every method side by side (notebook 08) -------------------------------------------------------
UNTRAINED = "untrained"


def methods_frame(paths: list[str | Path], metrics=("knn_top1", "linear_top1", "bias_conflicting_acc",
                                                    "worst_group_acc", "epoch_time_s")) -> pd.DataFrame:
    """Every compared variant of every notebook record under ``paths``, long: the variants a
    notebook compared with a probe (kNN and linear-probe accuracy both recorded), the untrained
    encoder included, each with ``metrics`` and ``step_cost`` (its ``epoch_time_s`` over SimCLR's in
    the same notebook run). Columns: run, notebook, variant, method, profile, dataset, device,
    seed, metric, value."""
    rows = []
    for d in find_run_dirs(paths):
        failures = read_failures(d)
        for r in read_results(d):
            if r["notebook"] in failures:
                continue
            variants = {n: v for n, v in (r.get("variants") or {}).items()
                        if isinstance(v, dict) and "knn_top1" in v and "linear_top1" in v}
            simclr = next((v.get("epoch_time_s") for n, v in variants.items() if n.lower() == "simclr"), None)
            methods = r.get("methods") or {}
            for name, figures in variants.items():
                knobs = methods.get(name) if isinstance(methods.get(name), dict) else {}
                method = knobs.get("method") or ("untrained encoder" if name == UNTRAINED else name)
                values = {m: figures.get(m) for m in metrics}
                if simclr and figures.get("epoch_time_s"):
                    values["step_cost"] = figures["epoch_time_s"] / simclr
                for metric, value in values.items():
                    if isinstance(value, (int, float)) and not isinstance(value, bool):
                        rows.append({"run": str(d), "notebook": r["notebook"],
                                     "variant": "SimCLR" if name.lower() == "simclr" else name, "method": method,
                                     "profile": r.get("profile", ""), "dataset": r.get("dataset", ""),
                                     "device": r.get("device", ""), "seed": r.get("seed"),
                                     "metric": metric, "value": float(value)})
    cols = ["run", "notebook", "variant", "method", "profile", "dataset", "device", "seed", "metric", "value"]
    return pd.DataFrame(rows, columns=cols)


def seed_siblings(run_dir: str | Path) -> list[Path]:
    """``run_dir`` and, when it is one seed of a ``--seeds`` run (``<name>-seed<k>``), the other
    seeds' folders beside it that exist, in seed order."""
    import re

    run_dir = Path(run_dir)
    m = re.fullmatch(r"(.+)-seed(\d+)", run_dir.name)
    if not m:
        return [run_dir]
    siblings = [p for p in run_dir.parent.glob(f"{m.group(1)}-seed*") if re.fullmatch(r"\d+", p.name.rsplit("-seed", 1)[1])]
    return sorted({*siblings, run_dir}, key=lambda p: int(p.name.rsplit("-seed", 1)[1]))


COURSE_NOTEBOOKS = tuple(f"{n:02d}_" for n in range(1, 8))  # the notebooks whose methods 08 compares


def locate_runs(run_dirs=None, output_dir=None) -> list[Path]:
    """The run folders notebook 08 reads: ``run_dirs`` (a path or a list; run folders or folders of
    them such as ``runs``), else ``output_dir`` (default: the session's default output folder) and
    its other seeds (:func:`seed_siblings`); only folders holding records of notebooks 01–07.
    A named folder that does not exist raises ``FileNotFoundError``."""
    from .parameters import as_list

    if run_dirs is not None:
        paths = [Path(p).expanduser() for p in as_list("run_dirs", str(run_dirs) if isinstance(run_dirs, Path) else run_dirs)]
        missing = [str(p) for p in paths if not p.exists()]
        if missing:
            raise FileNotFoundError(f"run_dirs: {', '.join(missing)} not found")
        candidates = find_run_dirs(paths)
    else:
        if output_dir is None:
            from .session import default_output_dir

            output_dir = default_output_dir()
        candidates = seed_siblings(Path(output_dir).expanduser())
    return [d for d in candidates if any(r["notebook"].startswith(COURSE_NOTEBOOKS) for r in read_results(d))]


def provenance(paths: list[str | Path]) -> pd.DataFrame:
    """Where the numbers come from, one row per notebook of 01–07: profile, data set, device,
    budget, the seeds found and the run folders."""
    frame = timing_frame(paths)
    frame = frame[frame["notebook"].str.startswith(COURSE_NOTEBOOKS)]
    if frame.empty:
        return pd.DataFrame(columns=["notebook", "profile", "dataset", "device", "budget", "seeds", "runs"])
    return (frame.groupby(["notebook", "profile", "dataset", "device", "budget"], sort=True)
            .agg(seeds=("seed", lambda s: ", ".join(map(str, sorted(set(s))))),
                 runs=("run", lambda s: ", ".join(sorted({Path(p).name for p in s}))))
            .reset_index())


def paired_gain(frame: pd.DataFrame, metric: str = "knn_top1", baseline: str = "SimCLR") -> pd.DataFrame:
    """Each trained variant's ``metric`` minus ``baseline``'s in the same notebook run (same data,
    budget, seed, batches and views): the rows of :func:`methods_frame` with ``value`` replaced by
    the difference; the baseline, the untrained encoder and a fine-tuning's shared start are left out."""
    part = frame[frame["metric"] == metric]
    base = part[part["variant"] == baseline].set_index(["run", "notebook"])["value"]
    keep = part[~part["variant"].isin([baseline, UNTRAINED, "start"])].copy()  # start: a fine-tuning's shared start
    ref = [base.get((r, n)) for r, n in zip(keep["run"], keep["notebook"])]
    keep["value"] = keep["value"].to_numpy() - pd.to_numeric(pd.Series(ref, dtype=float)).to_numpy()
    return keep.dropna(subset=["value"])


def mean_std_table(frame: pd.DataFrame, index=("dataset", "notebook", "variant"), digits: int = 3) -> pd.DataFrame:
    """``frame`` (long: ..., metric, value) as one row per ``index`` and one column per metric (in
    words), each cell ``mean ± std (n)`` over the rows (seeds); ``-`` where a metric was not measured."""
    index = list(index)
    if frame.empty:
        return pd.DataFrame(columns=index)
    stats = frame.groupby(index + ["metric"], sort=False)["value"].agg(["mean", "std", "count"]).reset_index()

    def cell(row):
        if row["count"] > 1:
            return f"{row['mean']:.{digits}f} ± {row['std']:.{digits}f}"
        return f"{row['mean']:.{digits}f}"

    stats["cell"] = stats.apply(cell, axis=1)
    first = ["knn_top1", "linear_top1", "bias_conflicting_acc", "worst_group_acc", "step_cost", "epoch_time_s"]
    found = list(dict.fromkeys(frame["metric"]))
    order = [m for m in first if m in found] + [m for m in found if m not in first]
    table = stats.pivot(index=index, columns="metric", values="cell").reindex(columns=order).fillna("-")
    n = frame.groupby(index, sort=False)["seed"].nunique().rename("seeds")
    table = table.join(n).reset_index()
    table = table.set_index(index).loc[list(dict.fromkeys(map(tuple, frame[index].to_numpy().tolist())))].reset_index()
    return table.rename(columns={m: label(m, short=True) for m in order})


def group_frame(results: dict, keys: list[str]) -> pd.DataFrame:
    """Group figures as a table: one row per variant (index ``variant``), one column per key of
    ``keys`` headed in words (:mod:`.labels`; a ``[...]`` suffix dropped), NaN where missing."""
    frame = pd.DataFrame([{k: r.get(k) for k in keys} for r in results.values()], index=list(results),
                         columns=keys, dtype=float)
    frame.index.name = "variant"
    return frame.rename(columns=lambda k: label(k.split("[")[0], short=True))


def group_table(results: dict) -> str:
    """A text table of group figures (:meth:`Session.evaluate_groups`), one row per variant: each
    evaluator's figures under the names of :data:`cl_course.evaluate.GROUP_KEYS`, the biased
    evaluation first, then the unbiased one (``[unbiased bank]``, ``[balanced probe]``) where present.
    Built with pandas (:func:`group_frame`); ``-`` where a variant lacks a figure."""
    base = [k for ev in GROUP_KEYS.values() for k in ev.values()]
    keys = base + [k + "[unbiased bank]" for k in GROUP_KEYS["knn"].values()] \
        + [k + "[balanced probe]" for k in GROUP_KEYS["probe"].values()]
    keys = [k for k in keys if any(k in r for r in results.values())]
    lines = []
    parts = [(p, t) for p, t in (([k for k in keys if "[" not in k], "biased bank and probe (trained on the biased labels)"),
                                 ([k for k in keys if "[" in k], "unbiased bank and colour-balanced probe")) if p]
    for part, title in parts:
        lines += [title] if len(parts) > 1 else []
        text = group_frame(results, part).reset_index().to_string(index=False, na_rep="-",
                                                                  float_format=lambda v: f"{v:.3f}")
        lines += text.splitlines()
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m cl_course.harness.results RUN_DIR [RUN_DIR ...] [--metric knn_top1]``: mean ± std over the
    run folders (one per seed). ``--timing PATH ...``: whole-notebook wall time per notebook, profile and
    device, from every record found under the paths (run folders, or folders of them such as ``runs/``)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m cl_course.harness.results", description=main.__doc__)
    ap.add_argument("run_dirs", nargs="+")
    ap.add_argument("--metric", default="knn_top1")
    ap.add_argument("--timing", action="store_true", help="print the wall-time table instead")
    args = ap.parse_args(argv)
    if args.timing:
        print(timing_table(args.run_dirs))
        return 0
    _, table = seed_table(args.run_dirs, args.metric)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
