"""The training command in the ci profile (scikit-learn digits, one process): it writes an encoder
that the notebooks' fingerprint accepts and another seed's refuses, a log per epoch, and a run
interrupted after an epoch resumes to the same weights as an uninterrupted one."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from cl_course.checkpoints import load_encoder
from cl_course.harness import encoders
from cl_course.harness.pretrain import build_objective, main, parse_args
from cl_course.harness.profiles import ConfigError
from cl_course.harness.session import setup
from cl_course.objectives import SimCLRObjective
from cl_course.train import CheckpointError

REPO = Path(__file__).resolve().parents[2]
SIZES = dict(epochs=2, n_train=256, batch_size=64)  # the ci profile, smaller: seconds on a busy CPU
ARGS = ["--method", "simclr", "--profile", "ci", "--no-monitor", *[a for k, v in SIZES.items() for a in ("-p", k, str(v))]]


def notebook_fingerprint(tmp_path, seed: int) -> tuple[dict, torch.nn.Module]:
    """The fingerprint notebook 01 builds for its SimCLR in the ci profile with SIZES (the one a
    ``checkpoint`` parameter is checked against), and a fresh model of its shape."""
    session = setup("01_simclr_basics", profile="ci", seed=seed, output_dir=tmp_path / "nb", **SIZES)
    objective = SimCLRObjective(session.views(), temperature=session.cfg["temperature"])
    fingerprint = encoders.fingerprint(session, objective, 2)
    assert fingerprint["seed"] == seed and fingerprint["recipe"]["epochs"] == 2
    return fingerprint, session.model(seed + 99)


def test_the_command_writes_an_encoder_the_notebooks_accept_and_resumes_exactly(tmp_path, clean_env):
    interrupted, whole = tmp_path / "interrupted", tmp_path / "whole"
    env = {**os.environ, "CL_COURSE_QUIET": "1", "OMP_NUM_THREADS": "1"}  # one thread, as the tests here
    subprocess.run([sys.executable, "-m", "cl_course.harness.pretrain", *ARGS, "--out", str(interrupted),
                    "--stop-after-epochs", "1"], cwd=REPO, env=env, check=True, timeout=300)
    (log,) = interrupted.glob("*.log.json")
    assert not (interrupted / log.name.replace(".log.json", ".pt")).exists(), "an interrupted run wrote the encoder"
    assert [e["epoch"] for e in json.loads(log.read_text())["epochs"]] == [1]

    resumed = main([*ARGS, "--out", str(interrupted)])
    straight = main([*ARGS, "--out", str(whole)])
    assert resumed.name == straight.name and resumed.name.startswith("simclr-ci-seed0-")
    record = json.loads(log.read_text())
    assert [e["epoch"] for e in record["epochs"]] == [1, 2] and record["processes"] == 1
    assert (interrupted / log.name.replace(".json", ".csv")).read_text().splitlines()[0].startswith("epoch,loss")

    fingerprint, model = notebook_fingerprint(tmp_path, seed=0)
    saved = load_encoder(resumed, model, fingerprint)
    assert [e["epoch"] for e in saved["history"]] == [1, 2]
    other = load_encoder(straight, notebook_fingerprint(tmp_path, seed=0)[1], fingerprint)["model"]
    for key, value in other.items():
        torch.testing.assert_close(saved["model"][key], value, atol=1e-6, rtol=0, msg=f"{key}: resumed != whole")

    wrong_seed, model = notebook_fingerprint(tmp_path, seed=1)
    with pytest.raises(CheckpointError, match="seed"):
        load_encoder(resumed, model, wrong_seed)


def test_a_method_gets_the_notebooks_defaults_and_its_knobs_are_checked(tmp_path, clean_env):
    session = setup("pretrain", profile="ci", output_dir=tmp_path)
    dcl = build_objective("dcl", session, {"tau_plus": 0.2})
    assert dcl.knobs() == {"method": "DCL", "temperature": session.cfg["temperature"], "tau_plus": 0.2}
    assert build_objective("ring", session, {"lower": 0.1, "upper": 0.5}).batch_size == session.cfg["batch_size"]
    with pytest.raises(ConfigError, match="tau_plus"):
        build_objective("simclr", session, {"tau_plus": 0.2})
    with pytest.raises(ValueError, match="tau_plus"):
        build_objective("dcl", session, {"tau_plus": 1.5})
    args = parse_args(["--method", "hcl", "--set", "beta=2", "--set", "tau_plus=0.05", "-p", "batch_size", "64"])
    assert args.knobs == {"beta": 2, "tau_plus": 0.05} and args.param == {"batch_size": 64}
    with pytest.raises(SystemExit):
        parse_args(["--method", "hcl", "--set", "beta"])
