"""The results contract: read the notebooks' JSON files of a run folder and tabulate their metrics."""
from __future__ import annotations

import csv
import json
from pathlib import Path

from ..evaluate import GROUP_KEYS

FAILURES = "failures.json"  # the runner's record of the notebooks that failed in a run folder
HEADLINE = ("knn_top1", "linear_top1", "detection_precision", "detection_recall",
            "worst_group_acc", "bias_conflicting_acc")


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


def _columns(rows: list[dict]) -> list[str]:
    fixed = ["notebook", "status", "variant", "profile", "dataset", "seed", "wall_time_s"]
    metrics = sorted({k for r in rows for k in r} - set(fixed), key=lambda k: (k not in HEADLINE, HEADLINE.index(k) if k in HEADLINE else 0, k))
    return fixed + metrics


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.4f}" if abs(v) < 10 else f"{v:.1f}"
    return str(v)


def write_summary(run_dir: str | Path, failures: dict[str, str] | None = None) -> str:
    """Write ``summary.csv`` and ``summary.md`` into ``run_dir``; return the markdown table.
    ``failures`` (default: the runner's ``failures.json``) are marked as such, without figures."""
    run_dir = Path(run_dir)
    failures = read_failures(run_dir) if failures is None else failures
    rows = summary_rows(read_results(run_dir), failures)
    cols = _columns(rows)
    with open(run_dir / "summary.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=cols)
        writer.writeheader()
        for row in rows:
            writer.writerow({c: row.get(c, "") for c in cols})
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(_fmt(row.get(c, "")) for c in cols) + " |" for row in rows]
    for nb, why in failures.items():
        lines.append(f"\n**FAILED** {nb}: {why}")
    table = "\n".join(lines) + "\n"
    (run_dir / "summary.md").write_text(table)
    return table


def seed_table(run_dirs: list[str | Path], metric: str = "knn_top1") -> tuple[list[dict], str]:
    """Mean ± std over seeds of ``metric`` for every (notebook, variant) found in ``run_dirs``
    (one folder per seed). Returns the rows and a markdown table."""
    import statistics

    values: dict[tuple[str, str], dict] = {}
    failed: dict[str, list] = {}
    for d in run_dirs:
        failures = read_failures(d)
        for record in read_results(d):
            if record["notebook"] in failures:
                continue
            entries = {"": record["metrics"], **(record.get("variants") or {})}
            for variant, metrics in entries.items():
                if isinstance(metrics.get(metric), (int, float)):
                    key = (record["notebook"], variant)
                    row = values.setdefault(key, {"profile": record.get("profile", ""), "seeds": {}})
                    row["seeds"][record.get("seed")] = metrics[metric]
        for notebook in failures:
            failed.setdefault(notebook, []).append(Path(d).name)
    rows = []
    for (notebook, variant), info in values.items():
        xs = list(info["seeds"].values())
        rows.append({"notebook": notebook, "variant": variant or "(headline)", "profile": info["profile"],
                     "n_seeds": len(xs), "seeds": sorted(info["seeds"]), "mean": statistics.fmean(xs),
                     "std": statistics.stdev(xs) if len(xs) > 1 else 0.0, "values": xs,
                     "failed_in": failed.get(notebook, [])})
    for notebook, where in failed.items():
        if not any(r["notebook"] == notebook for r in rows):
            rows.append({"notebook": notebook, "variant": "(headline)", "profile": "", "n_seeds": 0, "seeds": [],
                         "mean": float("nan"), "std": float("nan"), "values": [], "failed_in": where})
    lines = [f"| notebook | variant | profile | seeds | {metric} mean ± std | failed in |", "|---|---|---|---|---|---|"]
    lines += [f"| {r['notebook']} | {r['variant']} | {r['profile']} | {len(r['seeds'])} | "
              f"{r['mean']:.4f} ± {r['std']:.4f} | {', '.join(r['failed_in']) or '-'} |" for r in rows]
    return rows, "\n".join(lines) + "\n"


def group_table(results: dict) -> str:
    """A text table of group figures (:meth:`Session.evaluate_groups`), one row per variant: each
    evaluator's figures under the names of :data:`cl_course.evaluate.GROUP_KEYS`, the biased
    evaluation first, then the unbiased one (``[unbiased bank]``, ``[balanced probe]``) where present."""
    titles = {"knn_top1": "kNN unbiased", "bias_conflicting_acc": "conflicting", "bias_aligned_acc": "aligned",
              "worst_group_acc": "worst group", "worst_class_conflicting_acc": "worst class",
              "linear_top1": "probe", "linear_bias_conflicting_acc": "conflicting",
              "linear_worst_group_acc": "worst", "linear_worst_class_conflicting_acc": "worst class"}
    base = [k for ev in GROUP_KEYS.values() for k in ev.values()]
    keys = base + [k + "[unbiased bank]" for k in GROUP_KEYS["knn"].values()] \
        + [k + "[balanced probe]" for k in GROUP_KEYS["probe"].values()]
    keys = [k for k in keys if any(k in r for r in results.values())]
    width = max(len("variant"), *(len(n) for n in results))
    lines = []
    parts = [(p, t) for p, t in (([k for k in keys if "[" not in k], "biased bank and probe (trained on the biased labels)"),
                                 ([k for k in keys if "[" in k], "unbiased bank and colour-balanced probe")) if p]
    for part, title in parts:
        lines += [title] if len(parts) > 1 else []
        lines += [f"{'variant':>{width}} " + " ".join(f"{titles.get(k.split('[')[0], k):>12}" for k in part)]
        for name, r in results.items():
            lines.append(f"{name:>{width}} " + " ".join(f"{r[k]:12.3f}" if k in r else f"{'-':>12}" for k in part))
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m cl_course.harness.results RUN_DIR [RUN_DIR ...] [--metric knn_top1]``: mean ± std over the
    run folders (one per seed)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m cl_course.harness.results", description=main.__doc__)
    ap.add_argument("run_dirs", nargs="+")
    ap.add_argument("--metric", default="knn_top1")
    args = ap.parse_args(argv)
    _, table = seed_table(args.run_dirs, args.metric)
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
