"""Whether the training step and the embedding pass run under bf16 autocast.

On CUDA they always have. On a CPU with native bf16 instructions (AVX512-BF16 or AMX: recent Xeon
and EPYC parts) the same autocast roughly halves a width-64 encoder's forward + backward; on other
CPUs bf16 is emulated and slower than float32. So bf16 is the default on CUDA and on a CPU that has
the instructions, float32 elsewhere; ``$CL_COURSE_BF16`` (``1``/``0``) decides instead where it is set
(README: *bf16 autocast on the CPU*).

The precision is not part of an encoder's fingerprint (:mod:`cl_course.checkpoints`): like the
processor, it changes the bits a run ends with, not its recipe, so a start trained on a GPU (in bf16)
still loads on a CPU. A run's record names it in its ``device`` (``bf16 autocast`` on a CPU,
``float32`` on CUDA when it is off), so results tables keep such runs apart.
"""
from __future__ import annotations

import os
import warnings

import torch

_ON, _OFF = ("1", "true", "yes", "on"), ("0", "false", "no", "off")


def bf16_default(device: torch.device | str) -> bool:
    """``$CL_COURSE_BF16`` (``1``/``0``) if set, else on for CUDA and for a CPU with bf16 instructions
    (:func:`cpu_has_native_bf16`), off on other CPUs.

    Raises:
        ValueError: ``$CL_COURSE_BF16`` is set to something other than ``1``/``0`` (or
            ``true``/``false``, ``yes``/``no``, ``on``/``off``).
    """
    device = torch.device(device)
    env = os.environ.get("CL_COURSE_BF16", "").strip().lower()
    if env in _ON:
        return True
    if env in _OFF:
        return False
    if env:
        raise ValueError(f"CL_COURSE_BF16={os.environ['CL_COURSE_BF16']!r}: set it to 1 (bf16 autocast) or 0 (float32)")
    return device.type == "cuda" or cpu_has_native_bf16()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 instructions (AVX512-BF16 or AMX) that make bf16 autocast pay.
    ``False`` where this build of torch cannot tell."""
    cpu = getattr(torch, "cpu", None)
    checks = [getattr(cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(check() for check in checks if check is not None)


def resolve_bf16(bf16: bool | None, device: torch.device | str) -> bool:
    """``bf16`` itself, or :func:`bf16_default` when it is ``None``; warns when bf16 is asked for on a
    CPU that emulates it."""
    device = torch.device(device)
    on = bf16_default(device) if bf16 is None else bool(bf16)
    if on and device.type == "cpu" and not cpu_has_native_bf16():
        warnings.warn("bf16 autocast on a CPU without bf16 instructions is emulated and slower than float32; "
                      "leave bf16 off on this machine (CL_COURSE_BF16=0, or bf16=False)", RuntimeWarning, stacklevel=3)
    return on


def autocast(device: torch.device | str, enabled: bool) -> torch.autocast:
    """bf16 autocast on ``device`` when ``enabled`` (a no-op context otherwise)."""
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=enabled)
