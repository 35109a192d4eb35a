"""The notebooks as a user runs them: clean on disk, through papermill and the runner, and
stopping at the set-up cell with a clear message when a parameter or the data is wrong."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from cl_course.harness import nbclean, run

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_is_stored_clean_with_a_parameters_cell(path):
    nb = nbformat.read(path, as_version=4)
    assert nbclean.problems(nb) == []


def test_hygiene_check_flags_outputs_counts_and_missing_parameters_tag():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1")])
    nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="1")]
    nb.cells[0].execution_count = 3
    found = " ".join(nbclean.problems(nb))
    assert "outputs" in found and "execution counts" in found and "parameters" in found
    assert nbclean.problems(nbclean.clean(nb)) == ["has no cell tagged 'parameters'"]


def test_course_runner_runs_notebook_01_in_ci_profile_and_writes_json_and_summary(tmp_path):
    code = run.main(["01", "--profile", "ci", "--name", "smoke", "--runs-dir", str(tmp_path)])
    assert code == 0
    out = tmp_path / "smoke"
    record = json.loads((out / "01_simclr_basics.json").read_text())
    assert record["profile"] == "ci" and record["dataset"] == "digits"
    assert 0.2 < record["metrics"]["knn_top1"] <= 1.0  # chance is 0.1
    for key in ("parameters", "device", "wall_time_s", "variants"):
        assert key in record
    assert (out / "01_simclr_basics.ipynb").exists()
    assert "knn_top1" in (out / "summary.csv").read_text()
    assert "01_simclr_basics" in (out / "summary.md").read_text()


def test_course_runner_runs_notebook_08_on_every_seed_of_the_run_it_is_given(tmp_path):
    """Notebook 08 reads the records of 01-07 in its run folder and the other seeds beside it (made
    up here: two seeds of 03 and 06) and tabulates mean ± std; it trains nothing."""
    runs = tmp_path / "runs"
    for seed, (simclr, dcl) in enumerate([(0.5, 0.6), (0.7, 0.6)]):
        d = runs / f"c-seed{seed}"
        d.mkdir(parents=True)
        base = {"profile": "ci", "device": "cpu: x86_64, 2 threads", "seed": seed, "wall_time_s": 10.0 + seed,
                "parameters": {"compare_epochs": 2}}
        v03 = {"untrained": {"knn_top1": 0.3, "linear_top1": 0.3},
               "simclr": {"knn_top1": simclr, "linear_top1": simclr, "epoch_time_s": 1.0},
               "dcl": {"knn_top1": dcl, "linear_top1": dcl, "epoch_time_s": 1.25}}
        g = {"knn_top1": 0.2, "linear_top1": 0.2, "bias_conflicting_acc": 0.1 + seed / 10, "worst_group_acc": 0.0}
        v06 = {"untrained": g, "simclr": {**g, "epoch_time_s": 1.0}, "patch": {**g, "epoch_time_s": 2.0}}
        for nb, dataset, variants in (("03_debiasing", "digits", v03), ("06_diminished_semantics", "colored_digits", v06)):
            (d / f"{nb}.json").write_text(json.dumps({**base, "notebook": nb, "dataset": dataset,
                                                      "metrics": {"knn_top1": 0.5}, "variants": variants}))
    code = run.main(["08", "--profile", "ci", "--name", "c-seed1", "--runs-dir", str(runs)])
    assert code == 0
    table = (runs / "c-seed1" / "side_by_side.md").read_text()
    dcl = next(line for line in table.splitlines() if "| dcl " in line)
    assert "0.600 ± 0.000" in dcl and "1.250 ± 0.000" in dcl  # kNN over the two seeds; step cost 1.25 x SimCLR
    simclr = next(line for line in table.splitlines() if "03_debiasing" in line and "SimCLR" in line)
    assert "0.600 ± 0.141" in simclr
    executed = nbformat.read(runs / "c-seed1" / "08_side_by_side.ipynb", as_version=4)
    outputs = json.dumps([c.get("outputs", []) for c in executed.cells])
    assert "c-seed0, c-seed1" in outputs and "no run of 06 or 07 found" not in outputs
    assert outputs.count("image/png") >= 6  # gain, accuracy and shortcut figures per data set, step cost


@pytest.mark.parametrize(
    "parameters, message",
    [
        ({"profile": "laptop"}, "unknown profile 'laptop'"),
        ({"profile": "ci", "dataset": "imagenet"}, "dataset='imagenet' is invalid"),
        ({"profile": "ci", "batch_size": 1}, "batch_size=1 is invalid"),
        ({"profile": "ci", "temperature": 0}, "temperature=0 is invalid"),
        ({"profile": "cpu", "data_root": "{empty}"}, "CIFAR-10 was not found"),
        ({"profile": "ci", "temprature": 0.3}, "unknown parameter 'temprature' for 01_simclr_basics: did you mean temperature"),
        ({"profile": "ci", "sweep_temperatures": "[0.2, 0]"}, "temperature must be > 0"),
    ],
    ids=["unknown-profile", "unknown-dataset", "batch-size-1", "temperature-0", "data-missing-offline", "misspelled",
         "list-as-string"],
)
def test_bad_parameter_stops_notebook_01_at_the_setup_cell_with_a_message(tmp_path, monkeypatch, parameters, message):
    import papermill as pm

    params = {k: (str(tmp_path / "empty") if v == "{empty}" else v) for k, v in parameters.items()}
    # No network in CI anyway; make sure a download is not attempted elsewhere either.
    monkeypatch.setenv("CL_COURSE_NO_DOWNLOAD", "1")
    nb_path = REPO / "notebooks" / "01_simclr_basics.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(nb_path), str(tmp_path / "out.ipynb"), parameters={**params, "output_dir": str(tmp_path)},
                            kernel_name="python3", progress_bar=False, cwd=str(nb_path.parent))
    assert message in err.value.evalue
    # papermill inserts cells into the saved notebook, so read the failing cell's source from the error.
    assert "setup(" in err.value.source, "the notebook must stop at its set-up cell, right after the parameters"


@pytest.mark.parametrize(
    "notebook, parameters, message",
    [
        ("06_diminished_semantics", {"rho": 1.5}, "rho=1.5 is invalid"),
        ("06_diminished_semantics", {"rho": 0}, "rho=0 is invalid"),
        ("06_diminished_semantics", {"kinds": ["patch", "stripes"]}, "unknown negative kind 'stripes'"),
        ("06_diminished_semantics", {"patch_sizes": [5]}, "does not divide"),
        ("06_diminished_semantics", {"alpha": 0}, "alpha"),
        ("07_wcl_difficulty", {"rho": -0.5}, "rho=-0.5 is invalid"),
        ("07_wcl_difficulty", {"tau_plus": 1.0}, "tau_plus must be in [0, 1)"),
        ("07_wcl_difficulty", {"biased_lr": 0}, "biased_lr=0"),
        ("07_wcl_difficulty", {"weight_forms": ["similarity", "cosine"]}, "weight_form must be one of"),
        ("06_diminished_semantics", {"copy_gradient": "no"}, "copy_gradient must be True or False"),
        ("06_diminished_semantics", {"patch_sizes": "[5]"}, "does not divide"),
        ("06_diminished_semantics", {"kinds": "stripes"}, "unknown negative kind 'stripes'"),
        ("05_ring_sampling", {"lower": 0.999, "upper": 1.0}, "keeps no negative at batch size B=128"),
        ("04_false_negative_cancellation", {"mode": "both"}, "unknown parameter 'mode' for 04_false_negative_cancellation"),
    ],
    ids=["06-rho-above-1", "06-rho-0", "06-unknown-kind", "06-patch-not-dividing", "06-alpha-0", "07-rho-negative",
         "07-tau-plus-1", "07-biased-lr-0", "07-unknown-weight-form", "06-copy-gradient-not-bool", "06-list-as-string", "06-one-word-kind", "05-empty-ring", "04-unknown-knob"],
)
def test_bad_parameter_stops_notebooks_04_to_07_at_the_setup_cell(tmp_path, notebook, parameters, message):
    import papermill as pm

    nb_path = REPO / "notebooks" / f"{notebook}.ipynb"
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(nb_path), str(tmp_path / "out.ipynb"),
                            parameters={"profile": "ci", **parameters, "output_dir": str(tmp_path)},
                            kernel_name="python3", progress_bar=False, cwd=str(nb_path.parent))
    assert message in err.value.evalue
    assert "setup(" in err.value.source, "the notebook must stop at its set-up cell, right after the parameters"


SIGN_FLIP = """# Inserted by the test: SimCLR's loss with its sign flipped (pushes positives apart).
import cl_course.objectives as _objectives
_simclr_loss = _objectives.SimCLRObjective.loss
_objectives.SimCLRObjective.loss = lambda self, z1, z2, labels: -_simclr_loss(self, z1, z2, labels)
"""


def test_notebook_01_fails_its_learning_assert_when_the_objective_is_broken(tmp_path):
    import papermill as pm

    nb_path = REPO / "notebooks" / "01_simclr_basics.ipynb"
    nb = nbformat.read(nb_path, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_code_cell(SIGN_FLIP))
    broken = tmp_path / "01_broken.ipynb"
    nbformat.write(nb, broken)
    with pytest.raises(pm.PapermillExecutionError) as err:
        pm.execute_notebook(str(broken), str(tmp_path / "out.ipynb"),
                            parameters={"profile": "ci", "output_dir": str(tmp_path)},
                            kernel_name="python3", progress_bar=False, cwd=str(nb_path.parent))
    assert "did not beat the untrained encoder" in err.value.evalue
    assert "assert_learned" in err.value.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_opening_and_saving_in_jupyterlab_without_running_leaves_the_file_byte_identical(tmp_path, path):
    """JupyterLab's save path: the server's contents manager reads the notebook, the kernel's start
    sets the kernelspec and language_info, and the manager writes it back."""
    import shutil

    from jupyter_server.services.contents.filemanager import FileContentsManager

    shutil.copy(path, tmp_path / path.name)
    manager = FileContentsManager(root_dir=str(tmp_path))
    model = manager.get(path.name, content=True, type="notebook")
    model["content"]["metadata"].update(nbclean.jupyterlab_metadata())  # what the started kernel reports
    manager.save({"type": "notebook", "format": "json", "content": model["content"]}, path.name)
    assert (tmp_path / path.name).read_bytes() == path.read_bytes()


def test_the_hygiene_check_flags_metadata_jupyterlab_would_rewrite():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x = 1", metadata={"tags": ["parameters"]})])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    assert any("JupyterLab" in p for p in nbclean.problems(nb))
    assert nbclean.problems(nbclean.clean(nb)) == []
