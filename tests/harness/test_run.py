"""The papermill runner (cl_course.harness.run): parameters, notebook selection, failures, seeds."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from cl_course.harness import run
from cl_course.harness.results import write_summary

from .records import make_run, record


def test_write_summary_lists_failed_notebooks(tmp_path):
    make_run(tmp_path)
    md = write_summary(tmp_path, failures={"03_hcl": "cell 7: AssertionError: loss is nan"})
    assert "**FAILED** 03_hcl: cell 7: AssertionError: loss is nan" in md


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


def test_runner_with_seeds_runs_each_seed_into_its_folder_and_writes_the_seed_table(tmp_path, monkeypatch):

    import papermill

    from cl_course.harness import run

    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    (nb_dir / "01_fake.ipynb").write_text("{}")
    monkeypatch.setattr(run, "NOTEBOOKS", nb_dir)
    calls = []

    def fake_execute(inp, out, parameters, **kwargs):  # stands in for a real kernel
        calls.append(parameters)
        fake = record("01_fake", parameters["seed"], 0.5 + 0.1 * parameters["seed"], {})
        (Path(parameters["output_dir"]) / "01_fake.json").write_text(json.dumps(fake))

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(run, "notebook_defaults", lambda stem, folder: {"seed": 0, "beta": 1, "output_dir": None})
    code = run.main(["01", "--seeds", "0", "1", "--name", "x", "--runs-dir", str(tmp_path / "runs"), "-p", "beta", "2"])
    assert code == 0
    assert [c["seed"] for c in calls] == [0, 1] and all(c["beta"] == 2 for c in calls)
    assert (tmp_path / "runs" / "x-seed0" / "summary.md").exists()
    assert (tmp_path / "runs" / "x-seed1" / "01_fake.json").exists()
    assert "0.5500 ± 0.0707" in (tmp_path / "runs" / "x-seeds.md").read_text()


@pytest.fixture
def fake_notebook(tmp_path, monkeypatch):
    """One notebook ``01_fake`` with the parameters seed, temperature, output_dir, profile; the
    executions it would run are recorded (and may be made to fail)."""
    import papermill

    nb_dir = tmp_path / "notebooks"
    nb_dir.mkdir()
    (nb_dir / "01_fake.ipynb").write_text("{}")
    monkeypatch.setattr(run, "NOTEBOOKS", nb_dir)
    monkeypatch.setattr(run, "notebook_defaults",
                        lambda stem, folder: {k: None for k in ("seed", "temperature", "output_dir", "profile")})
    state = {"calls": [], "fail": False}

    def fake_execute(inp, out, parameters, **kwargs):
        state["calls"].append(parameters)
        if state["fail"]:
            raise papermill.PapermillExecutionError(3, 2, "boom", "ValueError", "batch_size=1 is invalid", [])
        fake = record("01_fake", parameters.get("seed", 0), 0.7, {})
        (Path(parameters["output_dir"]) / "01_fake.json").write_text(json.dumps(fake))

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    return state


def test_an_unknown_parameter_stops_the_runner_before_any_work_naming_the_closest_names(tmp_path, fake_notebook):
    with pytest.raises(SystemExit, match=r"unknown parameter 'temprature' for 01_fake: did you mean temperature\?"):
        run.main(["01", "--name", "r", "--runs-dir", str(tmp_path / "runs"), "-p", "temprature", "0.3"])
    assert fake_notebook["calls"] == [] and not (tmp_path / "runs").exists()


def test_the_real_notebooks_parameters_are_read_for_the_check(tmp_path):
    with pytest.raises(SystemExit, match=r"unknown parameter 'mode' for 04_false_negative_cancellation"):
        run.main(["04", "--name", "r", "--runs-dir", str(tmp_path / "runs"), "-p", "mode", "both"])


def test_a_failed_rerun_never_reports_the_previous_runs_metrics(tmp_path, fake_notebook):
    runs = tmp_path / "runs"
    assert run.main(["01", "--name", "r", "--runs-dir", str(runs)]) == 0
    assert "0.7" in (runs / "r" / "summary.csv").read_text()
    fake_notebook["fail"] = True
    assert run.main(["01", "--name", "r", "--runs-dir", str(runs), "-p", "temperature", "9"]) == 1
    assert not (runs / "r" / "01_fake.json").exists()
    csv_text, md = (runs / "r" / "summary.csv").read_text(), (runs / "r" / "summary.md").read_text()
    assert "0.7" not in csv_text and "FAILED" in csv_text and "batch_size=1 is invalid" in csv_text
    assert "0.7" not in md and "**FAILED** 01_fake" in md
    fake_notebook["fail"] = False  # a later success clears the failure
    assert run.main(["01", "--name", "r", "--runs-dir", str(runs)]) == 0
    assert "FAILED" not in (runs / "r" / "summary.csv").read_text()


def test_the_seed_table_marks_a_seed_whose_notebook_failed(tmp_path, fake_notebook):
    runs = tmp_path / "runs"
    assert run.main(["01", "--name", "s", "--runs-dir", str(runs), "--seeds", "0"]) == 0
    fake_notebook["fail"] = True
    assert run.main(["01", "--name", "s", "--runs-dir", str(runs), "--seeds", "0", "1"]) == 1
    table = (runs / "s-seeds.md").read_text()
    assert "s-seed0, s-seed1" in table and "nan ± nan" in table


def test_a_where_known_parameter_goes_only_to_the_notebooks_that_have_it(tmp_path, fake_notebook, monkeypatch):
    nb_dir = run.NOTEBOOKS
    (nb_dir / "02_other.ipynb").write_text("{}")
    own = {"01_fake": ("seed", "temperature", "output_dir"), "02_other": ("seed", "output_dir", "beta")}
    monkeypatch.setattr(run, "notebook_defaults", lambda stem, folder: {k: None for k in own[stem]})
    assert run.main(["--name", "w", "--runs-dir", str(tmp_path / "runs"), "-P", "beta", "2", "-P", "temperature", "0.3"]) == 0
    first, second = fake_notebook["calls"]
    assert first["temperature"] == 0.3 and "beta" not in first
    assert second["beta"] == 2 and "temperature" not in second
    with pytest.raises(SystemExit, match="unknown parameter 'betta' for the course's notebooks: did you mean beta"):
        run.main(["--name", "w", "--runs-dir", str(tmp_path / "runs"), "-P", "betta", "2"])
    assert run.main(["01", "--name", "w", "--runs-dir", str(tmp_path / "runs"), "-P", "beta", "2"]) == 0  # 02 has it
    assert "beta" not in fake_notebook["calls"][-1]


def test_the_exit_code_counts_only_this_calls_notebooks(tmp_path, fake_notebook):
    runs = tmp_path / "runs"
    (run.NOTEBOOKS / "02_other.ipynb").write_text("{}")
    fake_notebook["fail"] = True
    assert run.main(["01", "--name", "r", "--runs-dir", str(runs)]) == 1
    fake_notebook["fail"] = False
    assert run.main(["02", "--name", "r", "--runs-dir", str(runs)]) == 0  # 01's failure stays in the summary
    assert "**FAILED** 01_fake" in (runs / "r" / "summary.md").read_text()


def test_relative_paths_reach_the_kernels_resolved_against_the_folder_the_runner_started_in(
        tmp_path, fake_notebook, monkeypatch):
    # papermill starts kernels in notebooks/: a relative checkpoint, data root or cache folder given on
    # the command line must arrive absolute, as the user meant it from where they typed it.
    import papermill
    monkeypatch.setattr(run, "notebook_defaults",
                        lambda stem, folder: {k: None for k in ("seed", "output_dir", "checkpoint", "data_root")})
    seen = {}

    def fake_execute(inp, out, parameters, **kwargs):
        seen.update(parameters, cache=os.environ.get("CL_COURSE_CACHE"), data=os.environ.get("CL_COURSE_DATA"),
                    cwd=kwargs.get("cwd"))

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    here = tmp_path / "repo"
    here.mkdir()
    monkeypatch.chdir(here)
    monkeypatch.setenv("CL_COURSE_CACHE", "runs/cache-cpu")
    monkeypatch.setenv("CL_COURSE_DATA", "../shared/data")
    run.main(["01", "--name", "r", "--runs-dir", "runs", "--data-root", "../shared/data",
              "-P", "checkpoint", "runs/start/cache"])
    assert seen["checkpoint"] == str(here / "runs" / "start" / "cache")
    assert seen["data_root"] == str(tmp_path / "shared" / "data")
    assert seen["cache"] == str(here / "runs" / "cache-cpu")
    assert seen["data"] == str(tmp_path / "shared" / "data")
    assert seen["output_dir"] == str(here / "runs" / "r")
    assert seen["cwd"] == str(run.NOTEBOOKS)  # the kernel does run elsewhere: what made the resolving needed
    run.main(["01", "--name", "r", "--runs-dir", "runs", "-p", "checkpoint", "/abs/enc.pt", "-p", "data_root", "None"])
    assert seen["checkpoint"] == "/abs/enc.pt" and seen["data_root"] is None
