"""The comparison of variants (cl_course.harness.variants, Session.compare): one initialisation for
all, the untrained encoder as the floor, flattened metrics, and an assert that fails when learning fails."""
from __future__ import annotations

import pytest
import torch

from cl_course.harness.session import setup
from cl_course.harness.variants import UNTRAINED, Comparison
from cl_course.losses import nt_xent
from cl_course.objectives import DebiasedObjective, LossObjective, SimCLRObjective

pytestmark = pytest.mark.usefixtures("clean_env")


@pytest.fixture
def tiny(tmp_path):
    return setup("nb", profile="ci", data_root=tmp_path, output_dir=tmp_path, width=4, n_train=64, n_test=32,
                 batch_size=16, compare_epochs=1, knn_k=5, probe_epochs=2)


def comparison(**knn):
    c = Comparison(epochs=1)
    c.results = {name: {"knn_top1": v, "linear_top1": v / 2} for name, v in knn.items()}
    return c


def test_metrics_flatten_every_variant_with_the_untrained_floor():
    c = comparison(untrained=0.5, simclr=0.7)
    assert c.metrics(("knn_top1",)) == {"knn_top1[untrained]": 0.5, "knn_top1[simclr]": 0.7}
    assert c.trained == ["simclr"]


def test_assert_learned_passes_a_margin_and_names_the_variants_below_it():
    comparison(**{UNTRAINED: 0.5, "a": 0.6, "b": 0.56}).assert_learned("knn_top1", margin=0.05)
    with pytest.raises(AssertionError, match=r"b \(0.540\) did not beat the untrained encoder \(0.500\) by 0.05"):
        comparison(**{UNTRAINED: 0.5, "a": 0.6, "b": 0.54}).assert_learned("knn_top1", margin=0.05)
    with pytest.raises(AssertionError, match="did not beat"):
        comparison(**{UNTRAINED: 0.5, "a": float("nan")}).assert_learned("knn_top1", margin=0.0)


def test_table_has_the_untrained_row_first_and_one_row_per_variant():
    lines = comparison(untrained=0.5, simclr=0.7).table().splitlines()
    assert len(lines) == 3 and "untrained" in lines[1] and "0.700" in lines[2]


def test_compare_trains_every_variant_from_one_initialisation_and_evaluates_the_untrained_encoder(tiny):
    starts = []
    original = tiny.train

    def spy(model, objective, **kw):
        starts.append({k: v.clone() for k, v in model.state_dict().items()})
        return original(model, objective, **kw)

    tiny.train = spy
    views = tiny.views()
    c = tiny.compare({"simclr": SimCLRObjective(views, temperature=0.5),
                      "dcl": DebiasedObjective(views, temperature=0.5, tau_plus=0.1)}, monitor=False)
    assert list(c.results) == [UNTRAINED, "simclr", "dcl"] and c.trained == ["simclr", "dcl"]
    assert all(torch.equal(starts[0][k], starts[1][k]) for k in starts[0])
    assert set(c.results[UNTRAINED]) == {"knn_top1", "linear_top1"}
    assert len(c.histories["simclr"].epochs) == 1 and c.objectives["dcl"].tau_plus == 0.1
    assert not all(torch.equal(starts[0][k], v) for k, v in c.models["simclr"].state_dict().items())


def test_compare_reuses_a_given_untrained_result(tiny):
    views = tiny.views()
    floor = {"knn_top1": 0.123}
    c = tiny.compare({"simclr": SimCLRObjective(views)}, probe=False, monitor=False, untrained=floor)
    assert c.results[UNTRAINED] is floor and set(c.results["simclr"]) == {"knn_top1", "epoch_time_s"}


def test_step_cost_is_the_median_epoch_time():
    from cl_course.harness.variants import step_cost
    from cl_course.train import History

    h = History(epochs=[{"epoch": e, "time_s": t} for e, t in enumerate([9.0, 2.0, 3.0, 2.5], 1)])
    assert step_cost(h) == {"epoch_time_s": 2.75} and step_cost(History()) == {}


def test_a_sign_flipped_loss_fails_the_learning_assert(tmp_path):
    s = setup("nb", profile="ci", data_root=tmp_path, output_dir=tmp_path, n_train=512, n_test=200)
    views = s.views()
    flipped = LossObjective(views, loss_fn=lambda z1, z2, temperature: -nt_xent(z1, z2, temperature),
                            kwargs={"temperature": 0.5})
    c = s.compare({"SimCLR": SimCLRObjective(views, temperature=0.5), "flipped": flipped}, epochs=3,
                  probe=False, monitor=False)
    with pytest.raises(AssertionError, match=r"flipped \(.*\) did not beat the untrained encoder"):
        c.assert_learned("knn_top1", margin=0.05)
    assert c.results["SimCLR"]["knn_top1"] > c.results[UNTRAINED]["knn_top1"] + 0.05


def test_compare_from_a_start_reuses_a_given_start_result_and_trains_a_share_of_an_epoch(tiny):
    from cl_course.harness.variants import START

    start = tiny.shared_start(monitor=False)
    given = {"knn_top1": 0.321}
    c = tiny.compare({"simclr": SimCLRObjective(tiny.views())}, epochs=0.5, probe=False, monitor=False,
                     untrained={"knn_top1": 0.1}, start=start, start_result=given)
    assert c.results[START] is given
    # 64 images in batches of 16: 4 steps an epoch, half an epoch = 2 steps, one (short) epoch record
    assert len(c.histories["simclr"].epochs) == 1 and "knn_top1" in c.results["simclr"]
