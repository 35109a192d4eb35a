"""The results contract (cl_course.harness.results): JSON records → summary, seed and group tables."""
import csv
import json

import pytest

from cl_course.harness.results import read_results, summary_rows, write_summary

from .records import make_run, record


def test_group_table_has_a_row_per_variant_and_dashes_without_a_probe():
    from cl_course.harness.results import group_table

    row = {"knn_top1": 0.5, "bias_conflicting_acc": 0.25, "worst_group_acc": 0.0}
    text = group_table({"simclr": {**row, "linear_top1": 0.6, "linear_bias_conflicting_acc": 0.4,
                                   "linear_worst_group_acc": 0.1}, "biased encoder": row})
    lines = text.splitlines()
    assert len(lines) == 3 and "0.250" in lines[1] and "0.400" in lines[1]
    assert lines[2].strip().startswith("biased encoder") and lines[2].rstrip().endswith("-")


def test_read_results_keeps_only_records_sorted_by_file_name(tmp_path):
    make_run(tmp_path)
    assert [r["notebook"] for r in read_results(tmp_path)] == ["01_simclr", "02_dcl"]


def test_summary_rows_have_one_row_per_notebook_and_per_variant(tmp_path):
    make_run(tmp_path)
    rows = summary_rows(read_results(tmp_path))
    assert [(r["notebook"], r["variant"]) for r in rows] == [
        ("01_simclr", ""), ("01_simclr", "t=0.2"), ("01_simclr", "t=1.0"), ("02_dcl", "")]
    assert "loss_curve" not in rows[3] and "collapsed" not in rows[0]  # lists and booleans are not scalars


def test_write_summary_produces_csv_and_markdown_with_metric_values(tmp_path):
    make_run(tmp_path)
    table = write_summary(tmp_path)
    with open(tmp_path / "summary.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 4
    by_key = {(r["notebook"], r["variant"]): r for r in rows}
    assert float(by_key[("01_simclr", "")]["knn_top1"]) == 0.8125
    assert float(by_key[("01_simclr", "t=0.2")]["knn_top1"]) == 0.4375
    assert float(by_key[("02_dcl", "")]["linear_top1"]) == 0.7375
    assert by_key[("01_simclr", "")]["linear_top1"] == ""  # missing metrics stay empty
    header = list(rows[0].keys())
    assert header[:7] == ["notebook", "status", "variant", "profile", "dataset", "seed", "wall_time_s"]
    assert {r["status"] for r in rows} == {"ok"}
    assert header.index("knn_top1") < header.index("linear_top1")  # headline metrics first

    md = (tmp_path / "summary.md").read_text()
    assert md == table
    for text in ("0.8125", "0.4375", "0.5625", "0.6125", "0.7375", "t=0.2", "t=1.0", "01_simclr", "02_dcl"):
        assert text in md, text
    lines = md.strip().splitlines()
    assert lines[0].startswith("| notebook | status | variant |") and len(lines) == 2 + 4


def test_write_summary_of_an_empty_run_writes_headers_only(tmp_path):
    write_summary(tmp_path)
    with open(tmp_path / "summary.csv", newline="") as fh:
        assert list(csv.reader(fh)) == [["notebook", "status", "variant", "profile", "dataset", "seed", "wall_time_s"]]


def test_seed_table_gives_mean_and_sample_std_per_variant(tmp_path):
    import statistics

    from cl_course.harness.results import seed_table

    dirs = []
    for seed, (a, b) in enumerate([(0.50, 0.40), (0.54, 0.42), (0.52, 0.47)]):
        d = tmp_path / f"s{seed}"
        d.mkdir()
        (d / "03_debiasing.json").write_text(json.dumps(record("03_debiasing", seed, a, {"dcl": {"knn_top1": b}})))
        dirs.append(d)
    rows, table = seed_table(dirs)
    dcl = next(r for r in rows if r["variant"] == "dcl")
    assert dcl["n_seeds"] == 3 and dcl["seeds"] == [0, 1, 2]
    assert dcl["mean"] == pytest.approx(statistics.fmean([0.40, 0.42, 0.47]))
    assert dcl["std"] == pytest.approx(statistics.stdev([0.40, 0.42, 0.47]))
    assert "0.4300 ± 0.0361" in table and "(headline)" in table


def test_group_table_shows_the_unbiased_evaluation_apart():
    from cl_course.harness.results import group_table

    row = {"knn_top1": 0.5, "bias_conflicting_acc": 0.25, "knn_top1[unbiased bank]": 0.75,
           "worst_class_conflicting_acc[unbiased bank]": 0.625}
    lines = group_table({"simclr": row}).splitlines()
    assert lines[0].startswith("biased") and "0.250" in lines[2] and "0.750" not in lines[2]
    assert lines[3].startswith("unbiased") and "0.750" in lines[5] and "0.625" in lines[5]
