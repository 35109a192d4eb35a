"""Encoders a notebook reuses (cl_course.harness.encoders): the shared start, the cache, the checkpoint
parameter, and comparisons fine-tuned from a start."""
from __future__ import annotations

import pytest
import torch

from cl_course import checkpoints
from cl_course.harness import encoders
from cl_course.harness.session import setup
from cl_course.losses import nt_xent
from cl_course.objectives import LossObjective, SimCLRObjective
from cl_course.train import CheckpointError

pytestmark = pytest.mark.usefixtures("clean_env")


def tiny(out, seed=0, **kw):
    kw = {"epochs": 1, **kw}
    return setup("nb", profile="ci", data_root=out, output_dir=out, seed=seed, width=4, n_train=64, n_test=32,
                 batch_size=16, compare_epochs=1, finetune_epochs=1, knn_k=5, probe_epochs=2, **kw)


def same_weights(a, b):
    return all(torch.equal(x.cpu(), y.cpu()) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


def test_the_shared_start_is_trained_once_then_loaded_from_the_cache(tmp_path):
    first = tiny(tmp_path).shared_start(monitor=False)
    again = tiny(tmp_path).shared_start(monitor=False)
    assert not first.loaded and again.loaded and first.path == again.path
    assert first.path.parent == tmp_path / "cache"
    assert same_weights(first.model, again.model)
    assert again.history.epochs == first.history.epochs
    other_seed = tiny(tmp_path, seed=1).shared_start(monitor=False)
    assert not other_seed.loaded and other_seed.path != first.path


def test_a_cache_file_whose_fingerprint_does_not_match_is_trained_again_not_reused(tmp_path):
    first = tiny(tmp_path).shared_start(monitor=False)
    record = torch.load(first.path, weights_only=True)
    record["fingerprint"]["seed"] = 99  # the same name, another run's fingerprint inside
    torch.save(record, first.path)
    again = tiny(tmp_path).shared_start(monitor=False)
    assert not again.loaded
    assert checkpoints.read_encoder(first.path)["fingerprint"]["seed"] == 0  # overwritten by the retrained one


def test_the_cache_folder_follows_cl_course_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("CL_COURSE_CACHE", str(tmp_path / "shared"))
    start = tiny(tmp_path / "out").shared_start(monitor=False)
    assert start.path.parent == tmp_path / "shared"


def test_a_checkpoint_parameter_is_loaded_instead_of_training(tmp_path):
    start = tiny(tmp_path / "lab").shared_start(monitor=False)
    learner = tiny(tmp_path / "learner", checkpoint=start.path)
    loaded = learner.shared_start(monitor=False)
    assert loaded.loaded and loaded.path == start.path and same_weights(loaded.model, start.model)
    assert not (tmp_path / "learner" / "cache").exists()


def test_a_checkpoint_folder_is_searched_for_each_encoder(tmp_path):
    lab = tiny(tmp_path / "lab")
    lab.shared_start(monitor=False)
    learner = tiny(tmp_path / "learner", checkpoint=tmp_path / "lab" / "cache")
    assert learner.shared_start(monitor=False).loaded


def test_a_checkpoint_of_another_seed_is_refused_at_set_up_naming_the_seed(tmp_path):
    start = tiny(tmp_path / "lab").shared_start(monitor=False)
    with pytest.raises(CheckpointError, match="seed: saved 0, now 1"):
        tiny(tmp_path / "learner", seed=1, checkpoint=start.path)


def test_a_checkpoint_that_fits_no_encoder_of_the_notebook_stops_its_finish(tmp_path):
    start = tiny(tmp_path / "lab").shared_start(monitor=False)
    learner = tiny(tmp_path / "learner", checkpoint=start.path)
    learner.compare({"t=0.1": SimCLRObjective(learner.views(), temperature=0.1)}, probe=False, monitor=False)
    with pytest.raises(CheckpointError, match="fits no encoder this notebook trains"):
        learner.finish({})


def test_a_comparison_from_a_start_fine_tunes_a_copy_of_it_and_evaluates_the_start(tmp_path):
    s = tiny(tmp_path)
    start = s.shared_start(monitor=False)
    before = {k: v.clone() for k, v in start.model.state_dict().items()}
    idle = LossObjective(s.views(), loss_fn=lambda z1, z2: 0.0 * nt_xent(z1, z2))  # no gradient: only weight decay moves
    comp = s.compare({"idle": idle, "simclr": SimCLRObjective(s.views(), temperature=0.5)}, start=start, probe=False,
                     monitor=False)
    assert list(comp.results) == ["untrained", "start", "idle", "simclr"] and comp.trained == ["idle", "simclr"]
    idle_model = comp.models["idle"]
    for k, v in idle_model.named_parameters():  # (BatchNorm's running statistics move with any forward pass)
        assert torch.allclose(v.detach().cpu(), before[k].cpu(), atol=1e-3), k  # it started from the start
    assert all(torch.equal(v, start.model.state_dict()[k]) for k, v in before.items())  # the start is untouched
    assert not same_weights(comp.models["simclr"], start.model)


def test_an_encoder_fine_tuned_from_another_start_is_not_taken_from_the_cache(tmp_path):
    s = tiny(tmp_path, epochs=2)  # the start: 2 epochs; the runs below: 1
    start = s.shared_start(monitor=False)
    simclr = SimCLRObjective(s.views(), temperature=0.5)
    a = encoders.obtain(s, simclr, 1, start=start, monitor=False)
    b = encoders.obtain(s, simclr, 1, start=None, monitor=False)
    assert not a.loaded and not b.loaded and a.path != b.path
    assert encoders.obtain(s, simclr, 1, start=start, monitor=False).loaded


def test_a_comparison_says_which_variants_it_loaded_instead_of_training(tmp_path):
    s = tiny(tmp_path)
    variants = {"simclr": SimCLRObjective(s.views(), temperature=0.5)}
    first = s.compare(variants, probe=False, monitor=False)
    again = s.compare(variants, probe=False, monitor=False)
    assert first.loaded == [] and again.loaded == ["simclr"]
