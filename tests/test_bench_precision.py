"""benchmarks/bench_precision.py on the digits (the `ci` profile): one row per (width, batch) asked
for, with positive times and their ratio."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"


def test_one_row_per_geometry_with_positive_times_and_their_ratio(monkeypatch, capsys):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # as when run as a script: it imports bench_step
    spec = importlib.util.spec_from_file_location("bench_precision", BENCHMARKS / "bench_precision.py")
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = bench.main(["--profile", "ci", "--steps", "1", "--widths", "4", "--batches", "16", "32"])
    assert [(r["width"], r["batch"]) for r in rows] == [(4, 16), (4, 32)]
    for r in rows:
        assert r["fp32_ms"] > 0 and r["bf16_ms"] > 0
        assert r["ratio"] == pytest.approx(r["bf16_ms"] / r["fp32_ms"])
    assert "bf16/fp32" in capsys.readouterr().out
    sys.modules.pop("bench_step", None)
