"""The final table of benchmarks/gpu_check.sh: one row per notebook run, from the shell's record of
exit codes and wall times and the JSON each notebook wrote.

    python benchmarks/gpu_check_table.py STATUS_TSV RUN_DIR [--out gpu_check.md]

``STATUS_TSV`` holds ``notebook<TAB>exit code<TAB>wall seconds`` lines (written by the script, so a
notebook that died before writing its JSON still gets a row); the JSON adds kNN top-1 and device.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from cl_course.harness.results import read_results  # noqa: E402


def read_status(path: Path) -> list[tuple[str, int, float]]:
    """``(notebook, exit code, wall seconds)`` per line of the shell's record."""
    rows = []
    for line in path.read_text().splitlines():
        if line.strip():
            name, code, wall = line.split("\t")
            rows.append((name, int(code), float(wall)))
    return rows


SKIPPED = 199  # gpu_check.sh's code for a notebook not started: the time budget was spent


def status_word(code: int, has_json: bool) -> str:
    """ok, or why not: the runner exits 1 on a failed cell, ``timeout`` 124 when it ran too long,
    the script writes :data:`SKIPPED` for a notebook it had no time left to start."""
    if code == 0 and has_json:
        return "ok"
    if code == 124:
        return "TIMEOUT"
    if code == SKIPPED:
        return "SKIPPED"
    return "FAILED" if code else "no JSON"


def table(status: list[tuple[str, int, float]], run_dir: Path) -> str:
    """The markdown table: notebook, status, wall time, kNN top-1, profile, device."""
    records = {r["notebook"]: r for r in read_results(run_dir)} if run_dir.is_dir() else {}
    lines = ["| notebook | status | wall time s | kNN top-1 | profile | device |", "|---|---|---:|---:|---|---|"]
    for name, code, wall in status:
        r = records.get(name)
        knn = (r or {}).get("metrics", {}).get("knn_top1")
        lines.append(f"| {name} | {status_word(code, r is not None)} | {wall:.1f} | "
                     f"{'-' if knn is None else f'{knn:.4f}'} | {(r or {}).get('profile', '-')} | "
                     f"{(r or {}).get('device', '-')} |")
    ok = sum(status_word(c, n in records) == "ok" for n, c, _ in status)
    lines.append(f"\n{ok} of {len(status)} notebooks ok; total wall time {sum(w for *_, w in status):.0f} s")
    return "\n".join(lines) + "\n"


def main(argv=None) -> str:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("status", type=Path)
    ap.add_argument("run_dir", type=Path)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    text = table(read_status(args.status), args.run_dir)
    if args.out:
        args.out.write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
