"""The training loop: exact resume from a checkpoint, the NaN guard, argument checks, history,
the learning-rate schedule and the optimizer factory."""
from __future__ import annotations

import math

import re

import pytest
import torch
from torch import nn

from cl_course.augment import SimCLRViews
from cl_course.models import build_model
from cl_course.objectives import SimCLRObjective
from cl_course.train import NonFiniteLossError, fit, learning_rate, make_optimizer


def tiny_model(seed):
    torch.manual_seed(seed)
    return build_model("small_cnn", 1, width=4, stages=2, stem_stride=1, proj_hidden=16, proj_dim=8)


def tiny_images(n=24, seed=0):
    gen = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 1, 16, 16), generator=gen, dtype=torch.uint8)


def objective():
    views = SimCLRViews(size=16, scale=(0.5, 1.0), mean=(0.5,), std=(0.25,))
    return SimCLRObjective(views, temperature=0.5)


FIT = dict(epochs=3, batch_size=8, lr=1e-2, warmup_epochs=1.0, seed=3, quiet=True)


def test_resumed_run_matches_an_uninterrupted_run(tmp_path):
    images = tiny_images()
    model_a = tiny_model(seed=0)
    hist_a = fit(model_a, objective(), images, checkpoint=tmp_path / "a.pt", **FIT)

    model_b = tiny_model(seed=0)
    hist_b1 = fit(model_b, objective(), images, checkpoint=tmp_path / "b.pt", stop_after_epochs=1, **FIT)
    assert len(hist_b1.epochs) == 1
    fresh = tiny_model(seed=123)  # a different initialisation: everything must come from the checkpoint
    hist_b = fit(fresh, objective(), images, checkpoint=tmp_path / "b.pt", resume=True, **FIT)

    state_a, state_b = model_a.state_dict(), fresh.state_dict()
    assert state_a.keys() == state_b.keys()
    for key in state_a:
        torch.testing.assert_close(state_b[key], state_a[key], atol=1e-6, rtol=0, msg=f"{key} differs")
    assert [e["epoch"] for e in hist_b.epochs] == [1, 2, 3]
    for ea, eb in zip(hist_a.epochs, hist_b.epochs):
        assert eb["loss"] == pytest.approx(ea["loss"], abs=1e-6)
        assert eb["lr"] == pytest.approx(ea["lr"])


def test_training_changes_the_weights_and_is_reproducible_from_the_seed():
    images = tiny_images()
    m1, m2, m0 = tiny_model(0), tiny_model(0), tiny_model(0)
    fit(m1, objective(), images, **{**FIT, "epochs": 1})
    fit(m2, objective(), images, **{**FIT, "epochs": 1})
    for (k, p1), p2, p0 in zip(m1.state_dict().items(), m2.state_dict().values(), m0.state_dict().values()):
        assert torch.equal(p1, p2), k
    assert any(not torch.equal(p1, p0) for p1, p0 in zip(m1.parameters(), m0.parameters()))


def test_checkpoint_loads_with_weights_only(tmp_path):
    model = tiny_model(0)
    fit(model, objective(), tiny_images(), checkpoint=tmp_path / "ck.pt", **{**FIT, "epochs": 2})
    state = torch.load(tmp_path / "ck.pt", weights_only=True)
    assert state["epoch"] == 2
    assert len(state["history"]) == 2
    for key, value in model.state_dict().items():
        assert torch.equal(state["model"][key], value), key
    assert "state" in state["optimizer"] and "param_groups" in state["optimizer"]
    assert not (tmp_path / "ck.pt.tmp").exists()


def test_resume_false_ignores_an_existing_checkpoint(tmp_path):
    images = tiny_images()
    fit(tiny_model(0), objective(), images, checkpoint=tmp_path / "ck.pt", **{**FIT, "epochs": 2})
    hist = fit(tiny_model(0), objective(), images, checkpoint=tmp_path / "ck.pt", resume=False,
               **{**FIT, "epochs": 2})
    assert [e["epoch"] for e in hist.epochs] == [1, 2]


def test_nan_loss_stops_the_run_naming_the_step():
    calls = []

    def flaky(model, images, labels, gen):
        calls.append(1)
        loss = model(images.float().div(255)).pow(2).mean()
        return loss * float("nan") if len(calls) == 3 else loss

    model = tiny_model(0)
    with pytest.raises(NonFiniteLossError, match=r"the loss became nan at step 2 \(epoch 1, batch 3\)"):
        fit(model, flaky, tiny_images(), **FIT)
    assert all(torch.isfinite(p).all() for p in model.parameters())  # the NaN step was not applied


def test_infinite_loss_stops_the_run_in_a_later_epoch():
    calls = []

    def blows_up(model, images, labels, gen):
        calls.append(1)
        loss = model(images.float().div(255)).pow(2).mean()
        return loss + float("inf") if len(calls) == 4 else loss

    # 24 images, batch 8: 3 steps per epoch, so the 4th call is step 3 in epoch 2.
    with pytest.raises(NonFiniteLossError, match=r"at step 3 \(epoch 2, batch 1\)"):
        fit(tiny_model(0), blows_up, tiny_images(), **FIT)


def test_non_finite_loss_error_is_a_floating_point_error():
    assert issubclass(NonFiniteLossError, FloatingPointError)


@pytest.mark.parametrize("changes, message", [
    ({"batch_size": 1}, r"batch_size must be at least 2"),
    ({"batch_size": 25}, r"batch_size 25 is larger than the training set \(24 images\)"),
    ({"epochs": 0}, r"epochs must be a number > 0"),
    ({"epochs": -0.5}, r"epochs must be a number > 0"),
    ({"epochs": float("inf")}, r"epochs must be a number > 0"),
    ({"lr": 0.0}, r"lr must be > 0"),
    ({"lr": -1e-3}, r"lr must be > 0"),
    ({"lr": float("nan")}, r"lr must be > 0"),
])
def test_fit_rejects_bad_arguments_naming_them(changes, message):
    with pytest.raises(ValueError, match=message):
        fit(tiny_model(0), objective(), tiny_images(), **{**FIT, **changes})


def test_history_has_one_record_per_epoch_with_loss_and_monitor_metrics():
    seen = []

    def monitor(model):
        seen.append(model.training)
        return {"weight_norm": sum(p.norm().item() for p in model.parameters())}

    hist = fit(tiny_model(0), objective(), tiny_images(), monitor=monitor, **FIT)
    assert len(hist.epochs) == 3 and len(seen) == 3
    assert [e["epoch"] for e in hist.epochs] == [1, 2, 3]
    for record in hist.epochs:
        assert {"epoch", "loss", "lr", "time_s", "weight_norm"} <= record.keys()
        assert math.isfinite(record["loss"]) and record["loss"] > 0
    assert hist.column("weight_norm") == [e["weight_norm"] for e in hist.epochs]
    assert hist.last is hist.epochs[-1]
    # The monitor sees three different models, one per epoch.
    assert len(set(hist.column("weight_norm"))) == 3


def test_fit_passes_labels_and_seeded_generators_to_the_objective():
    images, labels = tiny_images(), torch.arange(24)
    seen_labels, draws = [], []

    def spy(model, imgs, labs, gen):
        seen_labels.append(labs.clone())
        draws.append(torch.rand(1, generator=gen).item())
        return model(imgs.float().div(255)).pow(2).mean()

    fit(tiny_model(0), spy, images, labels, **{**FIT, "epochs": 2})
    # Each epoch visits every image once, and the labels follow the images.
    for epoch in range(2):
        got = torch.cat(seen_labels[epoch * 3:(epoch + 1) * 3])
        assert sorted(got.tolist()) == list(range(24))
    assert not torch.equal(torch.cat(seen_labels[:3]), torch.cat(seen_labels[3:]))  # reshuffled
    assert len(set(draws)) == len(draws)  # a fresh seed for every step


def test_a_share_of_an_epoch_trains_that_share_of_the_steps_with_the_whole_schedule():
    # 24 images in batches of 8: 3 steps an epoch, so 0.5 epoch = round(1.5) = 2 steps and 1.5 epochs =
    # round(4.5) = 4 steps (the second epoch cut short). The warm-up shrinks with a budget under one epoch.
    seen, rates = [], []

    def spy(model, imgs, labs, gen):
        seen.append(len(imgs))
        return model(imgs.float().div(255)).pow(2).mean()

    hist = fit(tiny_model(0), spy, tiny_images(), **{**FIT, "epochs": 0.5})
    assert len(seen) == 2 and len(hist.epochs) == 1
    seen.clear()
    hist = fit(tiny_model(0), spy, tiny_images(), **{**FIT, "epochs": 1.5})
    assert len(seen) == round(1.5 * 3) and [e["epoch"] for e in hist.epochs] == [1, 2]
    # The final rate is the cosine's end of a schedule over the steps run, not of 2 whole epochs.
    total = round(1.5 * 3)
    assert hist.last["lr"] == pytest.approx(learning_rate(total - 1, total, FIT["lr"], 3))
    half = fit(tiny_model(0), spy, tiny_images(), **{**FIT, "epochs": 0.5})
    assert half.last["lr"] == pytest.approx(learning_rate(1, 2, FIT["lr"], int(3 * 0.5)))


def test_learning_rate_warms_up_linearly_then_decays_by_cosine_to_zero():
    base, warmup, total = 0.1, 4, 20
    lrs = [learning_rate(s, total, base, warmup) for s in range(total + 1)]
    assert lrs[:warmup] == pytest.approx([base * (s + 1) / warmup for s in range(warmup)])
    assert lrs[warmup] == pytest.approx(base)
    assert all(a >= b for a, b in zip(lrs[warmup:], lrs[warmup + 1:]))
    assert lrs[warmup + (total - warmup) // 2] == pytest.approx(base / 2)
    assert lrs[total] == pytest.approx(0.0, abs=1e-12)
    assert min(lrs[:total]) > 0


def test_learning_rate_without_warmup_starts_at_the_base_rate():
    assert learning_rate(0, 10, 0.5, 0) == pytest.approx(0.5)
    assert learning_rate(5, 10, 0.5, 0) == pytest.approx(0.25)


def test_make_optimizer_builds_adamw_and_sgd_without_decay_on_biases():
    model = tiny_model(0)
    adamw = make_optimizer(model, "adamw", 1e-3, 0.1)
    sgd = make_optimizer(model, "sgd", 1e-2, 0.1)
    assert isinstance(adamw, torch.optim.AdamW) and isinstance(sgd, torch.optim.SGD)
    assert sgd.defaults["momentum"] == 0.9 and sgd.defaults["nesterov"]
    decay, no_decay = adamw.param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    assert all(p.ndim > 1 for p in decay["params"]) and all(p.ndim <= 1 for p in no_decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(list(model.parameters()))


def test_make_optimizer_rejects_an_unknown_name():
    with pytest.raises(ValueError, match=r"unknown optimizer 'adam'"):
        make_optimizer(nn.Linear(2, 2), "adam", 1e-3, 0.0)


def test_fit_rejects_an_unknown_optimizer_name():
    with pytest.raises(ValueError, match=r"unknown optimizer 'lamb'"):
        fit(tiny_model(0), objective(), tiny_images(), optimizer="lamb", **FIT)


def test_per_submodule_learning_rates_follow_lr_scales():
    from torch import nn

    from cl_course.train import make_optimizer

    class Pair(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Linear(2, 2), nn.Linear(2, 2)
            self.lr_scales = {"b": 0.1}

    m = Pair()
    opt = make_optimizer(m, "adamw", 1e-3, 1e-4)
    scales = {id(p): g["lr_scale"] for g in opt.param_groups for p in g["params"]}
    assert all(scales[id(p)] == 1.0 for p in m.a.parameters())
    assert all(scales[id(p)] == 0.1 for p in m.b.parameters())
    assert len(scales) == 4  # every parameter in exactly one group


def nan_at(call_number, record):
    """An objective whose loss is NaN at the ``call_number``-th call (1-based); ``record`` counts calls."""
    def objective_fn(model, images, labels, gen):
        record.append(1)
        loss = model(images.float().div(255)).pow(2).mean()
        return loss * float("nan") if len(record) == call_number else loss
    return objective_fn


def test_batched_nan_checks_name_the_first_bad_step_not_a_later_one():
    calls = []
    # 48 images, batch 8: 6 steps an epoch. The NaN at step 1 is applied (the weights turn NaN, so
    # every later loss is NaN too), and the check at step 3 must still name step 1.
    with pytest.raises(NonFiniteLossError, match=r"the loss became nan at step 1 \(epoch 1, batch 2\)"):
        fit(tiny_model(0), nan_at(2, calls), tiny_images(48), check_every=4, **FIT)
    assert len(calls) == 4  # the check waited for the 4th step: no host sync per step


def test_batched_nan_checks_run_at_the_end_of_the_epoch_before_monitor_and_checkpoint(tmp_path):
    calls, monitored = [], []
    with pytest.raises(NonFiniteLossError, match=r"at step 1 \(epoch 1, batch 2\)"):
        fit(tiny_model(0), nan_at(2, calls), tiny_images(), check_every=100,
            monitor=lambda m: monitored.append(1) or {}, checkpoint=tmp_path / "ck.pt", **FIT)
    assert len(calls) == 3 and not monitored and not (tmp_path / "ck.pt").exists()


def test_fit_rejects_check_every_below_one():
    with pytest.raises(ValueError, match=r"check_every must be >= 1, got 0"):
        fit(tiny_model(0), objective(), tiny_images(), check_every=0, **FIT)


def eager_weights(**changes):
    model = tiny_model(0)
    fit(model, objective(), tiny_images(), **{**FIT, "epochs": 1, **changes})
    return model.state_dict()


def assert_same_weights(got, want, atol=0.0):
    assert got.keys() == want.keys()
    for key in want:
        torch.testing.assert_close(got[key], want[key], atol=atol, rtol=0, msg=f"{key} differs")


def test_compile_that_fails_when_wrapping_falls_back_to_eager_with_one_warning(monkeypatch, capsys):
    want = eager_weights(compile=False)

    def refuse(model, *args, **kwargs):
        raise RuntimeError("Windows not yet supported for torch.compile")

    monkeypatch.setattr(torch, "compile", refuse)
    got = eager_weights(compile=True)
    assert capsys.readouterr().out.count("WARNING: torch.compile failed (RuntimeError: Windows") == 1
    assert_same_weights(got, want)


def test_compile_that_fails_at_the_first_step_repeats_it_eagerly(monkeypatch, capsys):
    want = eager_weights(compile=False)
    seen = []

    def lazy_failure(model, *args, **kwargs):
        def compiled(*a, **kw):
            seen.append(1)
            raise RuntimeError("InvalidCxxCompiler: No working C++ compiler found")
        return compiled

    monkeypatch.setattr(torch, "compile", lazy_failure)
    got = eager_weights(compile=True)
    out = capsys.readouterr().out
    assert out.count("WARNING: torch.compile failed") == 1 and "InvalidCxxCompiler" in out
    assert len(seen) == 1  # tried once, then eager for good
    assert_same_weights(got, want)  # the failed step was repeated from the same seed


def test_compiled_training_keeps_the_state_dict_and_matches_eager(monkeypatch, tmp_path):
    # The "eager" backend traces with dynamo (the real wrapper and its guards) without needing a C++
    # compiler, so the test takes seconds on any CPU.
    real_compile = torch.compile
    monkeypatch.setattr(torch, "compile", lambda model, **kw: real_compile(model, backend="eager"))
    want = eager_weights(compile=False)
    model = tiny_model(0)
    fit(model, objective(), tiny_images(), compile=True, checkpoint=tmp_path / "ck.pt", **{**FIT, "epochs": 1})
    assert_same_weights(model.state_dict(), want, atol=1e-5)
    saved = torch.load(tmp_path / "ck.pt", weights_only=True)["model"]
    assert saved.keys() == want.keys()  # no "_orig_mod." prefixes: checkpoints load into a plain model


def test_compile_default_is_on_for_cuda_only_unless_the_environment_says(monkeypatch):
    from cl_course.train import compile_default

    monkeypatch.delenv("CL_COURSE_COMPILE", raising=False)
    assert compile_default(torch.device("cuda")) and not compile_default(torch.device("cpu"))
    monkeypatch.setenv("CL_COURSE_COMPILE", "0")
    assert not compile_default(torch.device("cuda"))
    monkeypatch.setenv("CL_COURSE_COMPILE", "1")
    assert compile_default(torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_cuda_fit_trains_and_its_batched_guard_names_the_first_bad_step():
    # On CUDA the defaults check every 20 steps and compile; eager here keeps the test to seconds.
    hist = fit(tiny_model(0), objective(), tiny_images(), device="cuda", compile=False, **FIT)
    assert len(hist.epochs) == 3 and all(math.isfinite(e["loss"]) for e in hist.epochs)
    calls = []
    with pytest.raises(NonFiniteLossError, match=r"the loss became nan at step 1 \(epoch 1, batch 2\)"):
        fit(tiny_model(0), nan_at(2, calls), tiny_images(48), device="cuda", compile=False, **FIT)
    assert len(calls) == 6  # the default check_every (20) on CUDA: the check came at the epoch's end


@pytest.mark.parametrize("change, what", [
    ({"seed": 4}, "seed: saved 3, now 4"),
    ({"lr": 2e-2}, "lr: saved 0.01, now 0.02"),
    ({"epochs": 1}, "epochs: saved 3, now 1"),
    ({"batch_size": 4}, "batch_size: saved 8, now 4"),
])
def test_a_checkpoint_from_a_run_shaped_otherwise_is_refused_naming_what_differs(tmp_path, change, what):
    from cl_course.train import CheckpointError

    images, ck = tiny_images(), tmp_path / "ck.pt"
    fit(tiny_model(0), objective(), images, checkpoint=ck, stop_after_epochs=2, **FIT)
    with pytest.raises(CheckpointError, match=rf"{re.escape(str(ck))} was saved by a run shaped otherwise .*{re.escape(what)}.*delete"):
        fit(tiny_model(0), objective(), images, checkpoint=ck, **{**FIT, **change})


def test_a_checkpoint_of_another_model_or_objective_is_refused(tmp_path):
    from cl_course.train import CheckpointError

    images, ck = tiny_images(), tmp_path / "ck.pt"
    fit(tiny_model(0), objective(), images, checkpoint=ck, stop_after_epochs=1, fingerprint={"beta": 1.0}, **FIT)
    with pytest.raises(CheckpointError, match=r"extra: saved \{'beta': 1.0\}, now \{'beta': 2.0\}"):
        fit(tiny_model(0), objective(), images, checkpoint=ck, fingerprint={"beta": 2.0}, **FIT)
    wider = build_model("small_cnn", 1, width=8, stages=2, stem_stride=1, proj_hidden=16, proj_dim=8)
    with pytest.raises(CheckpointError, match="model: saved"):
        fit(wider, objective(), images, checkpoint=ck, fingerprint={"beta": 1.0}, **FIT)


@pytest.mark.parametrize("content", [b"", b"\x00\x01 not a checkpoint at all" * 20, "tensor", "truncated", "pickle"],
                         ids=["empty", "random-bytes", "bare-tensor", "truncated", "unsafe-pickle"])
def test_an_unreadable_checkpoint_is_one_clear_error_naming_the_file_and_never_advising_unsafe_loading(tmp_path, content):
    from cl_course.train import CheckpointError

    ck = tmp_path / "ck.pt"
    if content == "tensor":
        torch.save(torch.ones(3), ck)
    elif content == "truncated":
        fit(tiny_model(0), objective(), tiny_images(), checkpoint=ck, stop_after_epochs=1, **FIT)
        ck.write_bytes(ck.read_bytes()[: ck.stat().st_size // 2])
    elif content == "pickle":
        torch.save({"model": {}, "optimizer": {}, "epoch": 1, "history": [], "extra": __import__("collections").Counter()}, ck)
    else:
        ck.write_bytes(content)
    with pytest.raises(CheckpointError) as err:
        fit(tiny_model(0), objective(), tiny_images(), checkpoint=ck, **FIT)
    message = str(err.value)
    assert str(ck) in message and f"delete {ck}" in message
    assert "weights_only=False" not in message and "can still be loaded" not in message


class _RecordsAutocast(SimCLRObjective):
    """SimCLR that notes, at every call, whether the step runs under CPU bf16 autocast."""

    seen: list

    def __call__(self, model, images, labels, gen):
        self.seen.append(torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16)
        return super().__call__(model, images, labels, gen)


@pytest.mark.parametrize("bf16, env, native, want", [(True, None, True, True), (False, "1", True, False),
                                                     (None, "1", False, True), (None, "0", True, False),
                                                     (None, None, True, True), (None, None, False, False)])
def test_the_step_runs_under_bf16_autocast_as_asked_or_as_the_environment_or_cpu_says(monkeypatch, bf16, env, native, want):
    from cl_course import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: native)
    if env is None:
        monkeypatch.delenv("CL_COURSE_BF16", raising=False)
    else:
        monkeypatch.setenv("CL_COURSE_BF16", env)
    views = SimCLRViews(size=16, scale=(0.5, 1.0), mean=(0.5,), std=(0.25,))
    obj = _RecordsAutocast(views, temperature=0.5)
    obj.seen = []
    hist = fit(tiny_model(0), obj, tiny_images(), bf16=bf16, **dict(FIT, epochs=1))
    assert obj.seen == [want] * 3 and math.isfinite(hist.epochs[0]["loss"])
