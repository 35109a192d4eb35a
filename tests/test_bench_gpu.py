"""benchmarks/bench_gpu.py rehearsed on the CPU with --tiny: every row is there and its numbers are
positive, and --out writes the table as markdown and JSON."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks" / "bench_gpu.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_gpu", BENCH)
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_gpu"] = module  # its dataclass resolves annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_tiny_rehearsal_reports_every_row_with_positive_numbers(bench, tmp_path, capsys):
    out = tmp_path / "bench.md"
    result = bench.main(["--tiny", "--no-compile", "--steps", "2", "--warmup", "1", "--out", str(out)])
    names = [r["name"] for r in result["rows"]]
    for expected in ("SimCLR step (views + fwd + NT-Xent + bwd + AdamW), eager",
                     "bare model fwd + bwd on ready views, eager", "FLOP floor at 800 TFLOP/s",
                     "reference: lightly SimCLR, ResNet-18, CIFAR-10 (A6000)", "reference: dkobak/simclr-cifar10 (A100)",
                     "target: this course on one H100"):
        assert expected in names
    for r in result["rows"]:
        assert r["s_per_epoch"] > 0 and r["images_per_s"] > 0 and r["tflops"] > 0, r
    assert result["forward_flops_per_image"] > 0 and result["tiny"]
    table = out.read_text()
    assert table in capsys.readouterr().out  # the printed table is the written one
    assert all(name in table for name in names)
    assert json.loads(out.with_suffix(".json").read_text())["rows"] == json.loads(json.dumps(result["rows"]))


def test_floor_is_the_forward_flops_times_six_per_image_at_the_peak(bench):
    result = bench.main(["--tiny", "--no-compile", "--steps", "1", "--warmup", "0", "--peak-tflops", "100"])
    floor = next(r for r in result["rows"] if r["name"].startswith("FLOP floor"))
    assert floor["s_per_epoch"] == pytest.approx(result["forward_flops_per_image"] * 6 * 50_000 / 100e12)
    assert floor["pct_peak"] == pytest.approx(100.0)


def test_resnet18_forward_flops_match_the_known_figure(bench):
    import torch

    from cl_course.models import build_model

    flops = bench.forward_flops(build_model("resnet18", 3), 32, torch.device("cpu"))
    # CIFAR ResNet-18 (3x3 stem, no max-pool): about 0.56 GMACs = 1.11 GFLOP per 32-px image, so the
    # floor of a 50,000-image epoch at 800 TFLOP/s is about 0.42 s.
    assert 1.0e9 < flops < 1.25e9
    assert 0.38 < flops * 6 * 50_000 / 800e12 < 0.47


def test_gpu_check_table_merges_exit_codes_wall_times_and_the_notebooks_json(tmp_path):
    spec = importlib.util.spec_from_file_location("gpu_check_table", BENCH.parent / "gpu_check_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    run = tmp_path / "runs"
    run.mkdir()
    (run / "01_a.json").write_text(json.dumps({"notebook": "01_a", "profile": "gpu", "device": "cuda: H100",
                                               "metrics": {"knn_top1": 0.8123}}))
    (run / "03_c.json").write_text(json.dumps({"notebook": "03_c", "profile": "gpu", "device": "cuda: H100",
                                               "metrics": {}}))
    status = tmp_path / "status.tsv"
    status.write_text("01_a\t0\t12.5\n02_b\t1\t3.0\n03_c\t124\t240.0\n04_d\t0\t1.0\n05_e\t199\t0\n")
    text = module.main([str(status), str(run), "--out", str(tmp_path / "t.md")])
    lines = text.splitlines()
    assert "| 01_a | ok | 12.5 | 0.8123 | gpu | cuda: H100 |" in lines
    assert "| 02_b | FAILED | 3.0 | - | - | - |" in lines
    assert lines[4].startswith("| 03_c | TIMEOUT | 240.0 | - |")
    assert "| 04_d | no JSON | 1.0 | - | - | - |" in lines  # exit 0 but nothing written
    assert "| 05_e | SKIPPED | 0.0 | - | - | - |" in lines
    assert "1 of 5 notebooks ok" in text and (tmp_path / "t.md").read_text() == text
