"""Weighted kNN, the linear probe, and Wang & Isola's alignment and uniformity on toy cases."""
from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from cl_course.evaluate import (
    alignment,
    embed,
    group_accuracy,
    knn_predict,
    knn_top1,
    linear_probe,
    uniformity,
)


def two_clusters(n_per=20, dim=4, seed=0):
    gen = torch.Generator().manual_seed(seed)
    centres = torch.eye(dim)[:2]  # orthogonal directions
    x = torch.cat([centres[c] + 0.05 * torch.randn(n_per, dim, generator=gen) for c in (0, 1)])
    y = torch.arange(2).repeat_interleave(n_per)
    return x, y


def test_knn_top1_is_one_on_well_separated_clusters():
    xb, yb = two_clusters(seed=0)
    xq, yq = two_clusters(seed=1)
    assert knn_top1(xb, yb, xq, yq, num_classes=2, k=5) == 1.0


def test_knn_top1_is_zero_when_the_query_labels_are_swapped():
    xb, yb = two_clusters(seed=0)
    xq, yq = two_clusters(seed=1)
    assert knn_top1(xb, yb, xq, 1 - yq, num_classes=2, k=5) == 0.0


def test_knn_with_k1_returns_the_label_of_an_identical_bank_point():
    gen = torch.Generator().manual_seed(2)
    bank = torch.randn(30, 8, generator=gen)
    labels = torch.randint(0, 5, (30,), generator=gen)
    scores = knn_predict(bank, labels, bank[[3, 17]].clone(), num_classes=5, k=1)
    assert scores.argmax(1).tolist() == [labels[3].item(), labels[17].item()]


def test_knn_scores_match_a_brute_force_vote():
    gen = torch.Generator().manual_seed(3)
    bank, query = torch.randn(25, 6, generator=gen), torch.randn(4, 6, generator=gen)
    labels = torch.randint(0, 3, (25,), generator=gen)
    k, t = 7, 0.2
    got = knn_predict(bank, labels, query, num_classes=3, k=k, temperature=t, chunk=3)
    for q in range(4):
        sims = [(torch.dot(query[q], b) / (query[q].norm() * b.norm())).item() for b in bank]
        nearest = sorted(range(25), key=lambda j: -sims[j])[:k]
        want = [sum(math.exp(sims[j] / t) for j in nearest if labels[j] == c) for c in range(3)]
        torch.testing.assert_close(got[q], torch.tensor(want, dtype=torch.float32), rtol=1e-4, atol=1e-5)


def test_knn_k_larger_than_the_bank_uses_the_whole_bank():
    xb, yb = two_clusters(n_per=3)
    scores = knn_predict(xb, yb, xb[:1], num_classes=2, k=1000, temperature=1.0)
    assert scores.shape == (1, 2) and (scores > 0).all()


@pytest.mark.parametrize("k", [0, -1])
def test_knn_rejects_k_below_one(k):
    xb, yb = two_clusters()
    with pytest.raises(ValueError, match=r"k must be >= 1"):
        knn_predict(xb, yb, xb, num_classes=2, k=k)


@pytest.mark.parametrize("temperature", [0.0, -0.1])
def test_knn_rejects_non_positive_temperature(temperature):
    xb, yb = two_clusters()
    with pytest.raises(ValueError, match=r"temperature must be > 0"):
        knn_predict(xb, yb, xb, num_classes=2, temperature=temperature)


def test_linear_probe_separates_linearly_separable_data():
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(10, generator=gen)

    def sample(n):
        x = torch.randn(n, 10, generator=gen) * 3 + 1
        score = x @ w
        keep = score.abs() > 1.0  # a margin
        return x[keep], (score[keep] > 0).long()

    xtr, ytr = sample(400)
    xte, yte = sample(200)
    out = linear_probe(xtr, ytr, xte, yte, num_classes=2, epochs=40, batch_size=256, lr=0.05)
    assert out["test_top1"] > 0.95 and out["train_top1"] > 0.95
    assert out["predictions"].shape == yte.shape


def test_linear_probe_is_near_chance_on_random_labels():
    gen = torch.Generator().manual_seed(5)
    xtr, xte = torch.randn(400, 8, generator=gen), torch.randn(400, 8, generator=gen)
    ytr, yte = torch.randint(0, 4, (400,), generator=gen), torch.randint(0, 4, (400,), generator=gen)
    out = linear_probe(xtr, ytr, xte, yte, num_classes=4, epochs=10, batch_size=128)
    assert out["test_top1"] < 0.4  # chance is 0.25; 0.4 is > 6 standard deviations above


def test_linear_probe_is_reproducible_from_its_seed():
    gen = torch.Generator().manual_seed(6)
    x, y = torch.randn(100, 5, generator=gen), torch.randint(0, 3, (100,), generator=gen)
    a = linear_probe(x, y, x, y, num_classes=3, epochs=3, batch_size=32, seed=7)
    b = linear_probe(x, y, x, y, num_classes=3, epochs=3, batch_size=32, seed=7)
    assert torch.equal(a["predictions"], b["predictions"]) and a["test_top1"] == b["test_top1"]


def test_alignment_of_identical_directions_is_zero():
    z = torch.randn(10, 5, generator=torch.Generator().manual_seed(7))
    assert alignment(z, 3.0 * z) == pytest.approx(0.0, abs=1e-6)


def test_alignment_of_opposite_views_is_four():
    z = torch.randn(10, 5, generator=torch.Generator().manual_seed(8))
    assert alignment(z, -z) == pytest.approx(4.0, rel=1e-5)


def test_alignment_of_orthogonal_views_is_two():
    z1, z2 = torch.eye(4)[:2], torch.eye(4)[2:]
    assert alignment(z1, z2) == pytest.approx(2.0, rel=1e-6)
    assert alignment(z1, z2, alpha=1.0) == pytest.approx(math.sqrt(2.0), rel=1e-6)


def test_uniformity_of_three_points_on_a_circle_matches_the_formula():
    # Angles 0, 90 and 180 degrees: squared distances 2, 4, 2 over the three pairs.
    z = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-5.0, 0.0]])
    want = math.log((math.exp(-2 * 2) + math.exp(-2 * 4) + math.exp(-2 * 2)) / 3)
    assert uniformity(z) == pytest.approx(want, rel=1e-5)
    want_t1 = math.log((math.exp(-2) + math.exp(-4) + math.exp(-2)) / 3)
    assert uniformity(z, t=1.0) == pytest.approx(want_t1, rel=1e-5)


def test_uniformity_matches_a_pairwise_loop_on_random_points():
    z = torch.randn(9, 4, generator=torch.Generator().manual_seed(9))
    u = z / z.norm(dim=1, keepdim=True)
    terms = [math.exp(-2 * (u[i] - u[j]).pow(2).sum().item()) for i in range(9) for j in range(9) if i != j]
    assert uniformity(z) == pytest.approx(math.log(sum(terms) / len(terms)), rel=1e-5)


def test_uniformity_of_a_collapsed_batch_is_zero_and_higher_than_spread_points():
    collapsed = torch.ones(6, 3)
    spread = torch.randn(6, 3, generator=torch.Generator().manual_seed(10))
    assert uniformity(collapsed) == pytest.approx(0.0, abs=1e-6)
    assert uniformity(spread) < uniformity(collapsed)


def test_embed_returns_cpu_float_features_and_restores_training_mode():
    encoder = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.Flatten())
    encoder.train()
    images = torch.randint(0, 256, (10, 1, 5, 5), dtype=torch.uint8)
    out = embed(encoder, images, lambda x: x.float() / 255, batch_size=3, bf16=False)  # compared with float32 below
    assert out.shape == (10, 2 * 3 * 3) and out.dtype == torch.float32
    assert encoder.training
    encoder.eval()
    with torch.no_grad():
        torch.testing.assert_close(out, encoder(images.float() / 255))


def test_group_accuracy_on_a_hand_made_example():
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    attrs = torch.tensor([0, 0, 1, 1, 1, 0])  # aligned: 0, 1, 3, 4; conflicting: 2, 5
    pred = torch.tensor([0, 0, 1, 1, 1, 1])   # wrong on sample 2 only
    g = group_accuracy(pred, labels, attrs)
    assert g["unbiased_acc"] == pytest.approx(5 / 6)
    assert g["bias_aligned_acc"] == pytest.approx(1.0)
    assert g["bias_conflicting_acc"] == pytest.approx(0.5)
    assert g["worst_group_acc"] == pytest.approx(0.0)  # group (label 0, colour 1) has one sample, wrong
    assert g["group_acc"].shape == (2, 2)


def test_group_accuracy_ignores_empty_groups_and_checks_shapes():
    labels, attrs = torch.tensor([0, 1, 2]), torch.tensor([0, 1, 2])  # 6 of 9 groups are empty
    g = group_accuracy(labels.clone(), labels, attrs)
    assert g["worst_group_acc"] == 1.0 and torch.isnan(g["group_acc"]).sum() == 6
    with pytest.raises(ValueError, match="shape"):
        group_accuracy(labels[:2], labels, attrs)


def test_knn_device_argument_keeps_cpu_results_identical_and_returns_cpu_scores():
    gen = torch.Generator().manual_seed(4)
    bank, queries = torch.randn(300, 16, generator=gen), torch.randn(70, 16, generator=gen)
    labels = torch.randint(0, 7, (300,), generator=gen)
    plain = knn_predict(bank, labels, queries, num_classes=7, k=20, chunk=32)
    on_cpu = knn_predict(bank, labels, queries, num_classes=7, k=20, chunk=32, device="cpu")
    assert torch.equal(plain, on_cpu) and on_cpu.device.type == "cpu"
    acc = knn_top1(bank, labels, queries, labels[:70], 7, k=20)
    assert knn_top1(bank, labels, queries, labels[:70], 7, k=20, device=torch.device("cpu")) == acc


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_knn_on_cuda_matches_the_cpu():
    gen = torch.Generator().manual_seed(5)
    bank, queries = torch.randn(2000, 64, generator=gen), torch.randn(300, 64, generator=gen)
    labels = torch.randint(0, 10, (2000,), generator=gen)
    cpu = knn_predict(bank, labels, queries, num_classes=10, k=50)
    gpu = knn_predict(bank, labels, queries, num_classes=10, k=50, device="cuda")
    assert gpu.device.type == "cpu"
    torch.testing.assert_close(gpu, cpu, rtol=1e-3, atol=1e-3)


def test_worst_class_on_conflicting_samples_against_a_loop():
    gen = torch.Generator().manual_seed(0)
    labels, attrs = torch.randint(4, (400,), generator=gen), torch.randint(4, (400,), generator=gen)
    pred = torch.where(torch.rand(400, generator=gen) < 0.6, labels, torch.randint(4, (400,), generator=gen))
    g = group_accuracy(pred, labels, attrs)
    per_class = []
    for c in range(4):
        rows = [i for i in range(400) if labels[i] == c and attrs[i] != c]
        per_class.append(sum(int(pred[i] == labels[i]) for i in rows) / len(rows))
    assert g["worst_class_conflicting_acc"] == pytest.approx(min(per_class))
    counts = [sum(1 for i in range(400) if labels[i] == c and attrs[i] == a) for c in range(4) for a in range(4)]
    assert g["min_group_size"] == min(counts)


def test_group_report_names_a_suffix_and_drops_a_worst_group_that_cannot_move():
    from cl_course.evaluate import group_report
    labels = torch.tensor([0, 0, 0, 1, 1, 1])
    attrs = torch.tensor([0, 0, 1, 1, 1, 0])
    pred = torch.tensor([0, 0, 1, 1, 1, 1])
    r = group_report(pred, labels, attrs, "knn", suffix="[unbiased bank]")
    assert r["bias_conflicting_acc[unbiased bank]"] == pytest.approx(0.5)
    assert r["worst_class_conflicting_acc[unbiased bank]"] == pytest.approx(0.0)  # label 0's one conflicting sample
    assert "worst_group_acc[unbiased bank]" in r
    small = group_report(pred, labels, attrs, "probe", min_group_size=2)  # a group has one sample
    assert "linear_worst_group_acc" not in small and "linear_top1" in small


@pytest.mark.parametrize("bf16", [False, True])
def test_embed_runs_under_bf16_autocast_when_asked_and_returns_float32(monkeypatch, bf16):
    from cl_course import precision

    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    torch.manual_seed(0)
    encoder = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 8))
    images = torch.randint(0, 256, (10, 3, 4, 4), dtype=torch.uint8)
    plain = lambda x: x.float() / 255  # noqa: E731
    out = embed(encoder, images, plain, batch_size=4, bf16=bf16)
    exact = encoder(plain(images)).detach()
    assert out.dtype == torch.float32 and out.shape == (10, 8)
    if bf16:  # bf16 keeps 8 bits of mantissa: close to, but not equal to, the float32 pass
        assert not torch.equal(out, exact)
        torch.testing.assert_close(out, exact, atol=0.05, rtol=0.02)
    else:
        torch.testing.assert_close(out, exact)
