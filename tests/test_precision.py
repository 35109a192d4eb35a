"""bf16 autocast: the default per device and $CL_COURSE_BF16, the warning on a CPU that emulates
bf16, and the context itself."""
from __future__ import annotations

import pytest
import torch

from cl_course import precision


def test_default_is_on_for_cuda_and_on_a_cpu_only_where_it_has_bf16_instructions(monkeypatch):
    monkeypatch.delenv("CL_COURSE_BF16", raising=False)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert precision.bf16_default("cuda") and not precision.bf16_default("cpu")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.bf16_default("cpu")


@pytest.mark.parametrize("value, want", [("1", True), ("on", True), ("TRUE", True), ("0", False), ("no", False)])
def test_the_environment_overrides_the_default_on_both_devices(monkeypatch, value, want):
    monkeypatch.setenv("CL_COURSE_BF16", value)
    assert precision.bf16_default("cpu") is want and precision.bf16_default("cuda") is want


def test_an_unreadable_environment_value_is_refused_naming_it(monkeypatch):
    monkeypatch.setenv("CL_COURSE_BF16", "fast")
    with pytest.raises(ValueError, match="CL_COURSE_BF16='fast'"):
        precision.bf16_default("cpu")


def test_asking_for_bf16_on_a_cpu_that_emulates_it_warns(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(RuntimeWarning, match="emulated"):
        assert precision.resolve_bf16(True, "cpu")


def test_no_warning_where_bf16_is_native_or_off(monkeypatch, recwarn):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    assert precision.resolve_bf16(True, "cpu")
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    assert not precision.resolve_bf16(False, "cpu")
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]


def test_none_reads_the_default(monkeypatch):
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    monkeypatch.setenv("CL_COURSE_BF16", "0")
    assert not precision.resolve_bf16(None, "cpu")
    monkeypatch.delenv("CL_COURSE_BF16")
    assert precision.resolve_bf16(None, "cpu")


def test_the_context_runs_a_linear_layer_in_bf16_only_when_enabled():
    layer, x = torch.nn.Linear(4, 4), torch.randn(2, 4)
    with precision.autocast("cpu", True):
        assert layer(x).dtype == torch.bfloat16
    with precision.autocast("cpu", False):
        assert layer(x).dtype == torch.float32
