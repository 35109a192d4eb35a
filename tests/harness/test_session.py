"""session.setup and Session.finish: profiles, the auto fallback, and the JSON record."""
from __future__ import annotations

import json

import pytest
import torch

from cl_course.data import DataNotFoundError
from cl_course.harness import profiles
from cl_course.harness import session as session_mod
from cl_course.harness.profiles import PROFILES, ConfigError
from cl_course.harness.session import setup

pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.fixture
def empty_root(tmp_path):
    root = tmp_path / "data"
    root.mkdir()
    return root


def test_ci_profile_needs_no_data_and_finish_writes_the_json_record(empty_root, tmp_path, offline):
    out = tmp_path / "out"
    s = setup("01_test", profile="ci", data_root=empty_root, output_dir=out, seed=5,
              method_params={"variant": "plain"}, epochs=2)
    assert s.profile == "ci" and s.data.name == "digits" and s.cfg["epochs"] == 2
    assert offline == []
    path = s.finish({"knn_top1": torch.tensor(0.75), "curve": [torch.tensor(1.0), 2.0]},
                    variants={"t=0.2": {"knn_top1": 0.5}})
    assert path == out / "01_test.json"
    record = json.loads(path.read_text())
    for key in ("notebook", "profile", "dataset", "device", "wall_time_s", "parameters", "metrics"):
        assert key in record, key
    assert record["notebook"] == "01_test" and record["profile"] == "ci" and record["dataset"] == "digits"
    assert record["seed"] == 5
    assert record["device"].startswith(s.device.type)
    assert isinstance(record["wall_time_s"], (int, float)) and record["wall_time_s"] >= 0
    assert record["parameters"]["epochs"] == 2
    assert record["parameters"]["temperature"] == PROFILES["ci"]["temperature"]
    assert record["parameters"]["variant"] == "plain"
    assert record["parameters"]["requested_profile"] == "ci"
    assert record["metrics"] == {"knn_top1": 0.75, "curve": [1.0, 2.0]}
    assert record["variants"] == {"t=0.2": {"knn_top1": 0.5}}
    assert record["notes"] == []


def test_session_builds_views_and_models_matching_data_and_profile(empty_root, tmp_path):
    s = setup("nb", profile="ci", data_root=empty_root, output_dir=tmp_path, width=4)
    views = s.views()
    assert views.size == s.cfg["image_size"] and views.scale == (s.cfg["crop_scale"], 1.0)
    assert views.mean == s.data.mean and len(views.std) == s.data.channels
    m1, m2 = s.model(), s.model()
    assert m1.feature_dim == 4 * 2 ** (s.cfg["stages"] - 1)
    assert all(torch.equal(a, b) for a, b in zip(m1.parameters(), m2.parameters()))  # seeded
    assert next(m1.parameters()).device.type == s.device.type  # ready to evaluate or project untrained
    out = m1(views(s.data.x_train[:4], s.generator()))
    assert out.shape[0] == 4 and torch.isfinite(out).all()


def test_auto_profile_with_no_data_falls_back_to_ci_and_records_a_note(empty_root, tmp_path, offline):
    s = setup("nb", profile="auto", data_root=empty_root, output_dir=tmp_path, epochs=1)
    assert s.profile == "ci" and s.data.name == "digits"
    assert s.cfg["epochs"] == 1  # overrides survive the fallback
    assert len(offline) == 1  # it tried to download once
    assert len(s.notes) == 1 and "fell back to 'ci'" in s.notes[0]
    record = json.loads(s.finish({}).read_text())
    assert record["profile"] == "ci" and record["notes"] == s.notes
    assert record["parameters"]["requested_profile"] == "auto"


def test_auto_profile_is_taken_from_the_environment(monkeypatch, empty_root, tmp_path, offline):
    monkeypatch.setenv("CL_COURSE_PROFILE", "ci")
    s = setup("nb", data_root=empty_root, output_dir=tmp_path)
    assert s.profile == "ci" and s.notes == []


def test_explicit_cpu_profile_with_no_data_raises_data_not_found(empty_root, tmp_path, offline):
    with pytest.raises(DataNotFoundError, match=r"profile='ci'"):
        setup("nb", profile="cpu", data_root=empty_root, output_dir=tmp_path)


def test_unknown_profile_raises_config_error(empty_root, tmp_path):
    with pytest.raises(ConfigError, match=r"unknown profile 'fastest'"):
        setup("nb", profile="fastest", data_root=empty_root, output_dir=tmp_path)


def test_bad_override_raises_config_error_before_loading_data(empty_root, tmp_path, offline):
    with pytest.raises(ConfigError, match=r"temperature=0 is invalid"):
        setup("nb", profile="cpu", data_root=empty_root, output_dir=tmp_path, temperature=0)
    assert offline == []


@pytest.mark.parametrize("seed", [1.5, "0", True])
def test_non_integer_seed_raises_config_error(seed, empty_root, tmp_path):
    with pytest.raises(ConfigError, match=r"seed=.* is invalid"):
        setup("nb", profile="ci", seed=seed, data_root=empty_root, output_dir=tmp_path)


def test_output_dir_defaults_to_cl_course_output(monkeypatch, tmp_path):
    monkeypatch.setenv("CL_COURSE_OUTPUT", str(tmp_path / "runs"))
    assert session_mod.default_output_dir() == tmp_path / "runs"


def test_ci_session_trains_and_evaluates_end_to_end_on_a_tiny_subset(empty_root, tmp_path):
    from cl_course.objectives import SimCLRObjective

    s = setup("nb", profile="ci", data_root=empty_root, output_dir=tmp_path, width=4, n_train=100,
              n_test=50, batch_size=32, epochs=2, knn_k=5, probe_epochs=2)
    assert len(s.data.y_train) == 100 and len(s.data.y_test) == 50
    model = s.model()
    history = s.train(model, SimCLRObjective(s.views(), temperature=0.5))
    assert [e["epoch"] for e in history.epochs] == [1, 2]
    assert all(0.0 <= e["knn_top1"] <= 1.0 for e in history.epochs)
    metrics = s.evaluate(model)
    assert set(metrics) == {"knn_top1", "linear_top1"}
    assert all(0.0 <= v <= 1.0 for v in metrics.values())


def test_shortcut_profiles_pick_the_biased_data_sets():
    assert profiles.resolve("ci", family="shortcut")["dataset"] == "colored_digits"
    assert profiles.resolve("cpu", family="shortcut")["dataset"] == "colored_mnist"
    assert profiles.resolve("gpu", family="shortcut")["dataset"] == "tinted_cifar10"
    assert "rho" not in profiles.resolve("ci")


@pytest.mark.parametrize("rho", [0, 1.5, -1])
def test_a_bad_rho_in_the_parameters_stops_with_a_config_error(rho):
    with pytest.raises(profiles.ConfigError, match=r"rho=.*-p rho"):
        profiles.resolve("ci", {"rho": rho}, family="shortcut")


def test_a_shortcut_notebook_refuses_an_unbiased_data_set():
    with pytest.raises(profiles.ConfigError, match="biased data set"):
        profiles.resolve("ci", {"dataset": "digits"}, family="shortcut")


def test_the_shortcut_session_keeps_the_colour_in_its_views():
    from cl_course.harness.session import setup

    s = setup("t", profile="ci", family="shortcut", output_dir="unused")
    v = s.views()
    assert v.jitter_p == 0 and v.gray_p == 0 and v.flip_p == 0
    assert s.data.name == "colored_digits" and s.data.attr_test is not None


def test_train_takes_an_objective_and_says_how_to_wrap_a_bare_loss(empty_root, tmp_path):
    from cl_course.losses import nt_xent

    s = setup("nb", profile="ci", data_root=empty_root, output_dir=tmp_path, n_train=64, n_test=32, batch_size=16)
    with pytest.raises(TypeError, match="LossObjective"):
        s.train(s.model(), nt_xent)


def test_probe_batch_draws_the_same_images_and_views_for_every_model(empty_root, tmp_path):
    s = setup("nb", profile="ci", data_root=empty_root, output_dir=tmp_path, batch_size=16, seed=3)
    a, b = s.probe_batch(s.model()), s.probe_batch(s.model())
    assert a.z1.shape == (16, 128) and torch.equal(a.idx, b.idx) and torch.equal(a.y, s.data.y_test[a.idx])
    assert torch.allclose(a.z1, b.z1) and not torch.allclose(a.z1, a.z2)  # same model init, same views
    assert torch.allclose(torch.stack(s.project(s.model(), a.x)), torch.stack((a.z1, a.z2)))


def test_finish_records_each_methods_knobs(empty_root, tmp_path):
    from cl_course.objectives import HardNegativeObjective

    s = setup("nb", profile="ci", data_root=empty_root, output_dir=tmp_path)
    path = s.finish({"knn_top1": 0.5}, methods={"hcl": HardNegativeObjective(s.views(), temperature=0.5, beta=2.0)})
    record = json.loads(path.read_text())
    assert record["methods"] == {"hcl": {"method": "HCL", "temperature": 0.5, "tau_plus": 0.1, "beta": 2.0}}


def test_finish_records_the_lectures_claims_as_this_run_judged_them(empty_root, tmp_path):
    from cl_course.harness.lecture import Findings

    s = setup("nb", profile="ci", data_root=empty_root, output_dir=tmp_path)
    found = Findings("nb")
    found.claim("HCL beats SimCLR", 0.6 > 0.5, "0.6 vs 0.5")
    found.claim("DCL beats SimCLR", 0.4 > 0.5, "0.4 vs 0.5")
    record = json.loads(s.finish({"knn_top1": 0.5}, claims=found.record()).read_text())
    assert record["claims"] == {"HCL beats SimCLR": True, "DCL beats SimCLR": False}
    assert json.loads(s.finish({"knn_top1": 0.5}).read_text())["claims"] == {}


@pytest.mark.parametrize("value", [0, -1e-3, "fast"])
def test_a_bad_biased_learning_rate_is_a_config_error(value, empty_root, tmp_path):
    with pytest.raises(ConfigError, match=f"biased_lr={value!r} is invalid"):
        setup("nb", profile="ci", data_root=empty_root, output_dir=tmp_path, family="shortcut", biased_lr=value)


def test_two_objectives_that_differ_only_in_their_views_get_different_cache_fingerprints(tmp_path):
    """Notebook 06 trains SimCLR with and without colour jitter, with the same knobs: the encoder
    cache must not hand one the other's encoder."""
    from cl_course.harness.encoders import fingerprint
    from cl_course.harness.session import setup
    from cl_course.objectives import SimCLRObjective

    s = setup("06_diminished_semantics", profile="ci", family="shortcut", output_dir=tmp_path)
    crops, jitter = SimCLRObjective(s.views(), temperature=0.5), SimCLRObjective(s.views(jitter_p=0.8), temperature=0.5)
    assert crops.knobs() == jitter.knobs()
    assert fingerprint(s, crops, 2) != fingerprint(s, jitter, 2)
    assert fingerprint(s, crops, 2) == fingerprint(s, SimCLRObjective(s.views(), temperature=0.5), 2)
    other_rho = setup("06_diminished_semantics", profile="ci", family="shortcut", output_dir=tmp_path, rho=0.9)
    assert fingerprint(s, crops, 2)["method"] != fingerprint(other_rho, SimCLRObjective(other_rho.views(), temperature=0.5), 2)["method"]


def test_an_encoder_cached_with_its_views_is_found_again(tmp_path):
    """The views' settings survive the checkpoint round trip: the second call loads, not trains."""
    from cl_course.harness.encoders import obtain
    from cl_course.harness.session import setup
    from cl_course.objectives import SimCLRObjective

    s = setup("06_diminished_semantics", profile="ci", family="shortcut", output_dir=tmp_path)
    objective = SimCLRObjective(s.views(), temperature=0.5)
    first = obtain(s, objective, 1, monitor=False)
    again = obtain(s, SimCLRObjective(s.views(), temperature=0.5), 1, monitor=False)
    assert not first.loaded and again.loaded


def test_usual_views_put_colour_jitter_grayscale_and_flips_back_on_a_biased_data_set(empty_root, tmp_path):
    s = setup("nb", profile="ci", data_root=empty_root, output_dir=tmp_path, family="shortcut")
    crops_only, usual = s.views(), s.usual_views()
    assert (crops_only.jitter_p, crops_only.gray_p, crops_only.flip_p) == (0.0, 0.0, 0.0)
    assert (usual.jitter_p, usual.gray_p, usual.flip_p) == (0.8, 0.2, 0.5)
    assert (usual.size, usual.scale, usual.mean) == (crops_only.size, crops_only.scale, crops_only.mean)


def test_a_cpu_record_names_bf16_when_the_step_runs_in_it_and_nothing_in_float32(monkeypatch):
    from cl_course.harness.session import describe_device

    monkeypatch.setenv("CL_COURSE_BF16", "0")
    assert "bf16" not in describe_device(torch.device("cpu"))
    monkeypatch.setenv("CL_COURSE_BF16", "1")
    assert describe_device(torch.device("cpu")).endswith(", bf16 autocast")
