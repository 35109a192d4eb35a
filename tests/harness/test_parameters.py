"""A notebook's parameters as papermill passes them (cl_course.harness.parameters): unknown names
stop the run naming the closest ones; list-valued parameters accept a string or a single value."""
from __future__ import annotations

import json

import pytest

from cl_course.harness.parameters import as_list, check_injected, injected_names, notebook_defaults
from cl_course.harness.profiles import ConfigError

PARAMETERS = '''# Parameters (papermill: -p NAME VALUE)
profile = None
temperature = None    # t > 0
sweep_temperatures = [0.05, 0.2, 1.0]
kinds = ["patch", "texture"]
'''


@pytest.fixture
def folder(tmp_path):
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "source": ["import torch"]},
                    {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": [PARAMETERS]}]}
    (tmp_path / "01_x.ipynb").write_text(json.dumps(nb))
    return tmp_path


def kernel(*injected_lines):
    """A namespace as the kernel has it after papermill's injected cell ran."""
    ns = {"In": ["", "import torch", PARAMETERS, "# Parameters\n" + "\n".join(injected_lines) + "\n"]}
    for line in injected_lines:
        exec(line, {}, ns)
    return ns


def test_notebook_defaults_reads_the_parameters_cell(folder):
    assert notebook_defaults("01_x", folder) == {"profile": None, "temperature": None,
                                                 "sweep_temperatures": [0.05, 0.2, 1.0], "kinds": ["patch", "texture"]}
    assert notebook_defaults("02_absent", folder) is None


def test_injected_names_come_from_papermills_cell_not_the_notebooks_own():
    assert injected_names(kernel('profile = "ci"', "temprature = 0.3")) == ["profile", "temprature"]
    assert injected_names({"In": ["", PARAMETERS]}) == [] and injected_names({}) == []


def test_an_injected_name_the_notebook_lacks_stops_with_the_closest_names(folder):
    with pytest.raises(ConfigError, match=r"unknown parameter 'temprature' for 01_x: did you mean temperature\b"):
        check_injected("01_x", kernel('profile = "ci"', "temprature = 0.3"), folder)
    with pytest.raises(ConfigError, match=r"unknown parameter 'mode' for 01_x: its parameters are kinds, profile"):
        check_injected("01_x", kernel('mode = "both"'), folder)


def test_known_names_pass_and_list_parameters_become_lists_in_the_namespace(folder):
    ns = kernel("temperature = 0.3", 'sweep_temperatures = "[0.1, 0.5]"', 'kinds = "patch"')
    check_injected("01_x", ns, folder)
    assert ns["temperature"] == 0.3 and ns["sweep_temperatures"] == [0.1, 0.5] and ns["kinds"] == ["patch"]


def test_outside_papermill_or_without_the_notebook_file_nothing_is_checked(folder):
    check_injected("01_x", {"In": ["", "temprature = 3"]}, folder)
    check_injected("99_absent", kernel("anything = 1"), folder)


@pytest.mark.parametrize("value, want", [
    ([4, 8], [4, 8]), ((4,), [4]), ("[4, 8]", [4, 8]), ("(0.1, 0.2)", [0.1, 0.2]), (0.1, [0.1]), (5, [5]),
    ("0.1", [0.1]), ("patch", ["patch"]), ('["patch", "texture"]', ["patch", "texture"]),
])
def test_as_list_reads_what_papermill_can_pass(value, want):
    assert as_list("x", value) == want


@pytest.mark.parametrize("value", [None, True, {"a": 1}, "{'a': 1}"])
def test_as_list_refuses_other_values_showing_the_syntax_that_works(value):
    with pytest.raises(ConfigError, match=r"patch_sizes=.* is invalid: it is a list. Give it as -y \"patch_sizes: \[4, 8\]\""):
        as_list("patch_sizes", value, (4, 8))
