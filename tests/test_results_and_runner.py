"""The results contract (run folder → summary.csv / summary.md) and the runner's helpers."""
from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from cl_course.harness import run
from cl_course.harness.results import read_results, summary_rows, write_summary


def make_run(tmp_path):
    records = [
        {"notebook": "02_dcl", "profile": "ci", "dataset": "digits", "seed": 0, "wall_time_s": 12.5,
         "metrics": {"knn_top1": 0.6125, "linear_top1": 0.7375, "loss_curve": [3.0, 2.0]}, "variants": {}},
        {"notebook": "01_simclr", "profile": "ci", "dataset": "digits", "seed": 1, "wall_time_s": 3.25,
         "metrics": {"knn_top1": 0.8125, "collapsed": False},
         "variants": {"t=0.2": {"knn_top1": 0.4375}, "t=1.0": {"knn_top1": 0.5625}}},
    ]
    for r in records:
        (tmp_path / f"{r['notebook']}.json").write_text(json.dumps(r))
    (tmp_path / "other.json").write_text(json.dumps({"not": "a record"}))
    (tmp_path / "list.json").write_text(json.dumps([1, 2, 3]))
    return records


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
    assert header[:6] == ["notebook", "variant", "profile", "dataset", "seed", "wall_time_s"]
    assert header.index("knn_top1") < header.index("linear_top1")  # headline metrics first

    md = (tmp_path / "summary.md").read_text()
    assert md == table
    for text in ("0.8125", "0.4375", "0.5625", "0.6125", "0.7375", "t=0.2", "t=1.0", "01_simclr", "02_dcl"):
        assert text in md, text
    lines = md.strip().splitlines()
    assert lines[0].startswith("| notebook | variant |") and len(lines) == 2 + 4


def test_write_summary_lists_failed_notebooks(tmp_path):
    make_run(tmp_path)
    md = write_summary(tmp_path, failures={"03_hcl": "cell 7: AssertionError: loss is nan"})
    assert "**FAILED** 03_hcl: cell 7: AssertionError: loss is nan" in md


def test_write_summary_of_an_empty_run_writes_headers_only(tmp_path):
    write_summary(tmp_path)
    with open(tmp_path / "summary.csv", newline="") as fh:
        assert list(csv.reader(fh)) == [["notebook", "variant", "profile", "dataset", "seed", "wall_time_s"]]


@pytest.mark.parametrize("text, value", [
    ("0.5", 0.5), ("3", 3), ("-2e-3", -2e-3), ("true", True), ("True", True), ("false", False),
    ("None", None), ("null", None), ("abc", "abc"), ("[1,2]", [1, 2]), ("(0.2, 1.0)", (0.2, 1.0)),
    ("'quoted'", "quoted"), ("cifar10", "cifar10"),
])
def test_parse_value_reads_values_as_papermill_would(text, value):
    got = run.parse_value(text)
    assert got == value and type(got) is type(value)


@pytest.fixture
def notebooks(tmp_path, monkeypatch):
    folder = tmp_path / "notebooks"
    folder.mkdir()
    for name in ("01_simclr.ipynb", "02_dcl.ipynb", "10_wcl.ipynb", "scratch.ipynb", "03_notes.md"):
        (folder / name).write_text("{}")
    monkeypatch.setattr(run, "NOTEBOOKS", folder)
    return folder


def test_find_notebooks_without_selectors_lists_the_numbered_notebooks(notebooks):
    assert [p.name for p in run.find_notebooks([])] == ["01_simclr.ipynb", "02_dcl.ipynb", "10_wcl.ipynb"]


def test_find_notebooks_selects_by_number_stem_or_path(notebooks):
    assert [p.name for p in run.find_notebooks(["02"])] == ["02_dcl.ipynb"]
    assert [p.name for p in run.find_notebooks(["01_simclr", "10"])] == ["01_simclr.ipynb", "10_wcl.ipynb"]
    assert run.find_notebooks([str(notebooks / "scratch.ipynb")]) == [(notebooks / "scratch.ipynb").resolve()]


@pytest.mark.parametrize("selector", ["99", "0", "1", "simclr"])
def test_find_notebooks_exits_naming_an_unknown_selector_and_the_available_ones(notebooks, selector):
    with pytest.raises(SystemExit) as info:
        run.find_notebooks([selector])
    message = str(info.value)
    assert f"no notebook matches {selector!r}" in message
    assert "01_simclr, 02_dcl, 10_wcl" in message


def _record(notebook, seed, knn, variants):
    return {"notebook": notebook, "profile": "cpu", "dataset": "cifar10", "seed": seed, "wall_time_s": 1.0,
            "parameters": {}, "metrics": {"knn_top1": knn}, "variants": variants}


def test_seed_table_gives_mean_and_sample_std_per_variant(tmp_path):
    import json
    import statistics

    from cl_course.harness.results import seed_table

    dirs = []
    for seed, (a, b) in enumerate([(0.50, 0.40), (0.54, 0.42), (0.52, 0.47)]):
        d = tmp_path / f"s{seed}"
        d.mkdir()
        (d / "03_debiasing.json").write_text(json.dumps(_record("03_debiasing", seed, a, {"dcl": {"knn_top1": b}})))
        dirs.append(d)
    rows, table = seed_table(dirs)
    dcl = next(r for r in rows if r["variant"] == "dcl")
    assert dcl["n_seeds"] == 3 and dcl["seeds"] == [0, 1, 2]
    assert dcl["mean"] == pytest.approx(statistics.fmean([0.40, 0.42, 0.47]))
    assert dcl["std"] == pytest.approx(statistics.stdev([0.40, 0.42, 0.47]))
    assert "0.4300 ± 0.0361" in table and "(headline)" in table


def test_runner_with_seeds_runs_each_seed_into_its_folder_and_writes_the_seed_table(tmp_path, monkeypatch):
    import json

    import papermill

    from cl_course.harness import run

    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    (nb_dir / "01_fake.ipynb").write_text("{}")
    monkeypatch.setattr(run, "NOTEBOOKS", nb_dir)
    calls = []

    def fake_execute(inp, out, parameters, **kwargs):  # stands in for a real kernel
        calls.append(parameters)
        record = _record("01_fake", parameters["seed"], 0.5 + 0.1 * parameters["seed"], {})
        (Path(parameters["output_dir"]) / "01_fake.json").write_text(json.dumps(record))

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    code = run.main(["01", "--seeds", "0", "1", "--name", "x", "--runs-dir", str(tmp_path / "runs"), "-p", "beta", "2"])
    assert code == 0
    assert [c["seed"] for c in calls] == [0, 1] and all(c["beta"] == 2 for c in calls)
    assert (tmp_path / "runs" / "x-seed0" / "summary.md").exists()
    assert (tmp_path / "runs" / "x-seed1" / "01_fake.json").exists()
    assert "0.5500 ± 0.0707" in (tmp_path / "runs" / "x-seeds.md").read_text()
