"""The objective protocol (cl_course.objectives.base): knobs for the JSON, views apart."""
import pytest

from cl_course.objectives import (DebiasedObjective, HardNegativeObjective, Objective, RingObjective,
                                  SimCLRObjective, SupportSetObjective)

from .tiny import tiny_setup


def test_knobs_list_the_method_and_its_fields_but_not_the_views():
    views, _, _ = tiny_setup()
    knobs = HardNegativeObjective(views, temperature=0.2, tau_plus=0.1, beta=2.0).knobs()
    assert knobs == {"method": "HCL", "temperature": 0.2, "tau_plus": 0.1, "beta": 2.0}


def test_state_fields_are_not_knobs():
    views, _, _ = tiny_setup()
    assert "counts" not in SupportSetObjective(views).knobs()
    assert "ring" not in RingObjective(views, lower=0.1, upper=0.5).knobs()


def test_every_objective_is_an_objective_and_takes_its_knobs_by_keyword_only():
    views, _, _ = tiny_setup()
    assert isinstance(SimCLRObjective(views), Objective)
    with pytest.raises(TypeError):
        DebiasedObjective(views, 0.5, 0.1)  # positional knobs would silently shift between subclasses
