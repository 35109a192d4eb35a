"""Profiles: overrides, None meaning "the profile's value", and ConfigErrors that name the parameter."""
from __future__ import annotations

import pytest

from cl_course.harness import profiles
from cl_course.harness.profiles import PROFILES, ConfigError, requested_profile, resolve

pytestmark = pytest.mark.usefixtures("clean_env")


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


@pytest.mark.parametrize("name", ["ci", "cpu", "gpu"])
def test_every_profile_resolves_to_its_own_values(name):
    assert resolve(name) == PROFILES[name]


def test_resolve_applies_overrides_and_keeps_none_as_the_profile_default():
    cfg = resolve("ci", {"epochs": 7, "temperature": 0.1, "lr": None, "batch_size": None})
    assert cfg["epochs"] == 7 and cfg["temperature"] == 0.1
    assert cfg["lr"] == PROFILES["ci"]["lr"] and cfg["batch_size"] == PROFILES["ci"]["batch_size"]
    assert cfg.keys() == PROFILES["ci"].keys()


def test_resolve_does_not_modify_the_profile_table():
    before = dict(PROFILES["cpu"])
    resolve("cpu", {"epochs": 99})
    assert PROFILES["cpu"] == before


def test_unknown_profile_raises_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"unknown profile 'fast'"):
        resolve("fast")


def test_auto_is_not_a_concrete_profile_for_resolve():
    with pytest.raises(ConfigError, match=r"unknown profile 'auto'"):
        resolve("auto")


def test_unknown_parameter_raises_config_error_naming_it():
    with pytest.raises(ConfigError, match=r"unknown parameter 'epoch'"):
        resolve("ci", {"epoch": 3})


@pytest.mark.parametrize("name, value", [
    ("batch_size", 1),
    ("batch_size", 0),
    ("batch_size", 64.0),
    ("temperature", 0),
    ("temperature", -1),
    ("temperature", float("nan")),
    ("temperature", "0.5"),
    ("dataset", "imagenet"),
    ("lr", 0.0),
    ("weight_decay", -1e-4),
    ("crop_scale", 0.0),
    ("crop_scale", 1.5),
    ("warmup_epochs", -1),
    ("epochs", 0),
    ("epochs", True),
    ("width", 2.5),
    ("n_train", 0),
    ("optimizer", "adam"),
    ("encoder", "vit"),
])
def test_out_of_range_value_raises_config_error_naming_the_parameter(name, value):
    with pytest.raises(ConfigError, match=rf"^{name}=.* is invalid"):
        resolve("ci", {name: value})


def test_n_train_smaller_than_batch_size_is_rejected():
    with pytest.raises(ConfigError, match=r"n_train=10 is invalid: it must be at least batch_size \(32\)"):
        resolve("ci", {"n_train": 10, "batch_size": 32})


def test_requested_profile_reads_cl_course_profile(monkeypatch):
    monkeypatch.setenv("CL_COURSE_PROFILE", "ci")
    assert requested_profile(None) == "ci"
    assert requested_profile("gpu") == "gpu"  # an explicit profile wins
    monkeypatch.delenv("CL_COURSE_PROFILE")
    assert requested_profile(None) == "auto"


def test_requested_profile_rejects_an_unknown_environment_value(monkeypatch):
    monkeypatch.setenv("CL_COURSE_PROFILE", "laptop")
    with pytest.raises(ConfigError, match=r"unknown profile 'laptop'"):
        requested_profile(None)


def test_every_profile_names_the_same_knobs():
    keys = {name: set(cfg) for name, cfg in PROFILES.items()}
    assert keys["ci"] == keys["cpu"] == keys["gpu"]
    assert set(PROFILES) | {"auto"} == set(profiles.PROFILE_NAMES)
