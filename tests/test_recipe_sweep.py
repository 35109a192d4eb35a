"""benchmarks/recipe_sweep.py's staged search, with the training replaced by a table of scores: the
CPU budget becomes steps through the measured cost of each geometry, each stage builds on the best of
the one before, and the time limit skips runs instead of overrunning."""
from __future__ import annotations

import argparse
import importlib.util
import json
import sys
from pathlib import Path

import pytest

SWEEP = Path(__file__).resolve().parent.parent / "benchmarks" / "recipe_sweep.py"
COST = {"256x24": 0.5, "128x24": 0.25, "256x20": 0.3, "128x20": 0.16, "256x16": 0.2, "128x16": 0.1}


@pytest.fixture(scope="module")
def sweep_module():
    spec = importlib.util.spec_from_file_location("recipe_sweep", SWEEP)
    module = importlib.util.module_from_spec(spec)
    sys.modules["recipe_sweep"] = module
    spec.loader.exec_module(module)
    return module


def _score(batch, size, lr, temperature, crop_scale):
    # best geometry 128 x 20 at lr 3e-3; then t = 0.3 is better still; crop 0.3 worse
    s = 0.5 + (0.03 if (batch, size) == (128, 20) else 0) + (0.01 if lr == 3e-3 else 0)
    return s + (0.005 if temperature == 0.3 else 0) - (0.01 if crop_scale == 0.3 else 0)


def _run_sweep(module, tmp_path, monkeypatch, time_limit=1e9):
    calls = []

    def fake(data_root, cost, budget_s, seed, batch, size, lr, temperature, crop_scale):
        calls.append(dict(seed=seed, batch=batch, size=size, lr=lr, temperature=temperature, crop_scale=crop_scale,
                          budget_s=budget_s, steps=int(budget_s / cost[f"{batch}x{size}"])))
        return dict(calls[-1], image_size=size, knn_top1=_score(batch, size, lr, temperature, crop_scale))

    monkeypatch.setattr(module, "train_and_score", fake)
    cost = tmp_path / "cost.json"
    cost.write_text(json.dumps({"threads": 2, "s_per_step": COST}))
    args = argparse.Namespace(cost=str(cost), budget_epochs=6.0, reference_epochs=10.0, lrs=[1e-3, 3e-3],
                              data_root=None, time_limit=time_limit, out=str(tmp_path / "sweep.jsonl"))
    module.sweep(args)
    out = tmp_path / "sweep.jsonl"
    return calls, [json.loads(line) for line in out.read_text().splitlines()] if out.exists() else []


def test_the_budget_is_epochs_of_todays_recipe_turned_into_steps_by_each_geometrys_cost(sweep_module, tmp_path,
                                                                                       monkeypatch):
    calls, written = _run_sweep(sweep_module, tmp_path, monkeypatch)
    epoch_s = 50000 // 256 * COST["256x24"]
    assert calls[0]["budget_s"] == pytest.approx(10 * epoch_s)  # today's recipe at its own 10 epochs first
    assert calls[0]["steps"] == 1950
    for c in calls[1:-1]:
        assert c["budget_s"] == pytest.approx(6 * epoch_s)
        assert c["steps"] == int(6 * epoch_s / COST[f"{c['batch']}x{c['size']}"])
    assert calls[-1]["budget_s"] == pytest.approx(8 * epoch_s)  # the winner at a third more
    assert len(written) == len(calls)


def test_each_stage_starts_from_the_best_of_the_stage_before(sweep_module, tmp_path, monkeypatch):
    calls, _ = _run_sweep(sweep_module, tmp_path, monkeypatch)
    stage1 = calls[1:13]
    assert {(c["batch"], c["size"]) for c in stage1} == set(sweep_module.GEOMETRIES)
    stage2 = calls[13:17]
    assert all((c["batch"], c["size"]) == (128, 20) for c in stage2)
    assert {c["temperature"] for c in stage2} == {0.1, 0.2, 0.3}
    winner = dict(batch=128, size=20, lr=3e-3, temperature=0.3, crop_scale=0.2)
    seeds = [c for c in calls[17:] if c["seed"] in (1, 2)]
    assert [c["seed"] for c in seeds] == [1, 1, 2, 2]
    assert all({k: c[k] for k in winner} == winner for c in seeds[::2])                 # the winner
    assert all((c["batch"], c["size"], c["lr"]) == (256, 24, 1e-3) for c in seeds[1::2])  # and today's recipe


def test_the_time_limit_skips_runs_instead_of_overrunning(sweep_module, tmp_path, monkeypatch):
    calls, written = _run_sweep(sweep_module, tmp_path, monkeypatch, time_limit=-1)
    assert calls == [] and written == []


def test_sessions_load_each_data_set_once_and_carry_their_own_knobs(sweep_module, monkeypatch):
    import dataclasses

    from cl_course.harness.profiles import PROFILES, ConfigError

    @dataclasses.dataclass
    class LoadedSession:
        cfg: dict
        seed: int
        params: dict
        data: object
        notes: list
        started: float

    loads = []

    def fake_setup(notebook, profile, data_root, output_dir, **data_knobs):
        loads.append(data_knobs)
        return LoadedSession(cfg={}, seed=0, params={"data_root": data_root}, data=object(), notes=[], started=0.0)

    monkeypatch.setattr(sweep_module, "setup", fake_setup)
    monkeypatch.setattr(sweep_module, "_LOADED", {})
    cpu = PROFILES["cpu"]
    a = sweep_module._session("root", seed=1, batch_size=cpu["batch_size"] // 2)
    b = sweep_module._session("root", seed=2, lr=cpu["lr"] * 10)
    assert loads == [{}] and a.data is b.data                      # one load serves both recipes
    assert (a.cfg["batch_size"], a.cfg["lr"], a.seed) == (cpu["batch_size"] // 2, cpu["lr"], 1)
    assert (b.cfg["batch_size"], b.cfg["lr"], b.seed) == (cpu["batch_size"], cpu["lr"] * 10, 2)
    a.notes.append("a note of the first run")
    assert b.notes == [] and a.started > 0                         # each run's notes and clock are its own
    c = sweep_module._session("root", n_train=1000)                # another data set: loaded, not the first reused
    assert loads == [{}, {"n_train": 1000}] and c.data is not a.data and c.cfg["n_train"] == 1000
    with pytest.raises(ConfigError):
        sweep_module._session("root", lr=-1.0)
