"""Checkers for the notebooks' exercises: call ``check_<name>(your_function)``.

A checker prints ``correct`` and returns True when the function matches the package on random
cases; returns False (saying so) while the function still raises ``NotImplementedError``; and
raises ``AssertionError`` with the failing case when the answer is wrong.
"""
from __future__ import annotations

from typing import Callable

import torch

from .diagnostics import effective_negatives, same_class_negative_share
from .evaluate import alignment, uniformity


def _describe(args) -> str:
    return ", ".join(str(tuple(a.shape)) if isinstance(a, torch.Tensor) else repr(a) for a in args)


def _run(name: str, fn: Callable, cases, reference: Callable, atol: float = 1e-5, rtol: float = 1e-5,
         hint: str = "") -> bool:
    """Compare ``fn(*case)`` with ``reference(*case)`` (numbers or tensors) on every case."""
    for i, args in enumerate(cases):
        try:
            got = fn(*args)
        except NotImplementedError:
            print(f"{name}: not attempted yet (replace `raise NotImplementedError` with your code)")
            return False
        want = reference(*args)
        if isinstance(want, torch.Tensor):
            if not isinstance(got, torch.Tensor) or got.shape != want.shape:
                shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
                raise AssertionError(f"{name}: case {i} with inputs of shape {_describe(args)}: expected a tensor of shape "
                                     f"{tuple(want.shape)}, got {shape}")
            if not torch.allclose(got.float(), want.float(), atol=atol, rtol=rtol):
                raise AssertionError(f"{name}: case {i} with inputs of shape {_describe(args)}: largest error "
                                     f"{(got.float() - want.float()).abs().max():.3g}. {hint}".rstrip())
            continue
        got = float(got.item() if isinstance(got, torch.Tensor) else got)
        if abs(got - want) > atol * max(1.0, abs(want)):
            raise AssertionError(f"{name}: case {i} with inputs of shape {_describe(args)}: expected {want:.6f}, got {got:.6f}")
    print(f"{name}: correct on {len(cases)} cases")
    return True


def check_same_class_share(fn: Callable[[torch.Tensor], float]) -> bool:
    """``fn(labels) -> float``: the share of in-batch negatives that are same-class (false negatives)."""
    gen = torch.Generator().manual_seed(1)
    cases = [(torch.randint(0, c, (b,), generator=gen),) for b, c in [(8, 2), (64, 10), (256, 10), (33, 3)]]
    cases.append((torch.tensor([0, 0, 0, 1]),))  # unbalanced
    return _run("same-class negative share", fn, cases, same_class_negative_share)


def check_alignment(fn: Callable[[torch.Tensor, torch.Tensor], float]) -> bool:
    """``fn(z1, z2) -> float``: Wang & Isola's alignment (alpha = 2) of normalised positive pairs."""
    gen = torch.Generator().manual_seed(2)
    cases = [(torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen)) for b, d in [(4, 3), (32, 16), (100, 128)]]
    cases.append((cases[1][0], cases[1][0] * 3.0))  # identical directions: alignment 0
    return _run("alignment", fn, cases, alignment)


def check_uniformity(fn: Callable[[torch.Tensor], float]) -> bool:
    """``fn(z) -> float``: Wang & Isola's uniformity (t = 2) of normalised rows."""
    gen = torch.Generator().manual_seed(3)
    cases = [(torch.randn(b, d, generator=gen),) for b, d in [(5, 2), (64, 16), (200, 128)]]
    return _run("uniformity", fn, cases, uniformity, atol=1e-4)


def check_importance_weights(fn: Callable[[torch.Tensor, torch.Tensor, float, float], torch.Tensor]) -> bool:
    """``fn(z1, z2, t, beta) -> (2B, 2B-2)``: HCL's self-normalised importance weights (mean 1 per row)."""
    from .losses import importance_weights

    gen = torch.Generator().manual_seed(4)
    cases = [(torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen), t, beta)
             for b, d, t, beta in [(3, 4, 0.5, 1.0), (8, 16, 0.2, 2.0), (16, 8, 1.0, 0.0)]]
    return _run("importance weights", fn, cases, importance_weights, atol=1e-4, rtol=1e-4,
                hint="Are the rows normalised to mean 1?")


def check_effective_negatives(fn: Callable[[torch.Tensor], float]) -> bool:
    """``fn(w) -> float``: mean effective number of negatives of a weight matrix."""
    gen = torch.Generator().manual_seed(5)
    cases = [(torch.ones(4, 6),), (torch.rand(8, 30, generator=gen),), (torch.eye(5) * 3 + 1e-3,),
             (torch.softmax(4 * torch.randn(16, 62, generator=gen), 1) * 62,)]
    return _run("effective negatives", fn, cases, effective_negatives, atol=1e-4)


def check_class_prior(fn: Callable[[torch.Tensor], float]) -> bool:
    """``fn(labels) -> float``: probability that two independent samples share a class, ``sum_c pi_c^2``."""
    def reference(labels):
        pi = torch.bincount(labels).float() / len(labels)
        return (pi ** 2).sum().item()

    gen = torch.Generator().manual_seed(6)
    cases = [(torch.arange(10).repeat(50),), (torch.randint(0, 3, (101,), generator=gen),),
             (torch.tensor([0] * 90 + [1] * 10),), (torch.zeros(7, dtype=torch.long),)]
    return _run("class prior", fn, cases, reference)


def check_debiased_negatives(fn: Callable[[torch.Tensor, torch.Tensor, float, float], torch.Tensor]) -> bool:
    """``fn(pos, neg, t, tau_plus) -> (M,)``: DCL's clamped estimate ``N max(g, e^{-1/t})`` per anchor."""
    import math

    def reference(pos, neg, t, tau_plus):
        n = neg.shape[1]
        g = (neg.exp().mean(1) - tau_plus * pos.exp()) / (1 - tau_plus)
        return n * torch.clamp(g, min=math.exp(-1 / t))

    gen = torch.Generator().manual_seed(7)
    cases = []
    for m, n, t, tp in [(4, 6, 0.5, 0.1), (16, 30, 0.2, 0.2), (8, 14, 1.0, 0.0), (5, 8, 0.5, 0.9)]:
        cos = torch.rand(m, n + 1, generator=gen) * 2 - 1
        cases.append((cos[:, 0] / t, cos[:, 1:] / t, t, tp))
    return _run("debiased negatives", fn, cases, reference, atol=1e-6, rtol=1e-4,
                hint="Is the clamp at e^(-1/t) applied before multiplying by N?")


def check_precision_recall(fn: Callable[[torch.Tensor, torch.Tensor], tuple]) -> bool:
    """``fn(flags, labels) -> (precision, recall)`` of false-negative flags against the labels."""
    from .objectives import DetectionCounts

    def reference(flags, labels):
        same = (labels[:, None] == labels[None, :]) & ~torch.eye(len(labels), dtype=torch.bool)
        counts = DetectionCounts()
        counts.add(flags & ~torch.eye(len(labels), dtype=torch.bool), same)
        s = counts.summary()
        return s["detection_precision"], s["detection_recall"]

    gen = torch.Generator().manual_seed(8)
    cases = []
    for b, c in [(6, 2), (16, 4), (32, 10)]:
        labels = torch.randint(0, c, (b,), generator=gen)
        flags = torch.rand(b, b, generator=gen) < 0.3
        flags |= (labels[:, None] == labels[None, :]) & (torch.rand(b, b, generator=gen) < 0.5)
        cases.append((flags & ~torch.eye(b, dtype=torch.bool), labels))
    for i, (flags, labels) in enumerate(cases):
        try:
            got = fn(flags, labels)
        except NotImplementedError:
            print("precision and recall: not attempted yet (replace `raise NotImplementedError` with your code)")
            return False
        want = reference(flags, labels)
        got = tuple(float(g) for g in got)
        if any(abs(g - w) > 1e-6 for g, w in zip(got, want)):
            raise AssertionError(f"precision and recall: case {i} (B={len(labels)}): expected {want}, got {got}; "
                                 "leave out the diagonal (an image with itself)")
    print(f"precision and recall: correct on {len(cases)} cases")
    return True


def check_support_scores(fn: Callable[[torch.Tensor, torch.Tensor, str], torch.Tensor]) -> bool:
    """``fn(support, candidates, aggregate) -> (B, B)``: max or mean over the support views of the cosine
    similarity to each candidate (the diagonal is not compared)."""
    import torch.nn.functional as F

    def reference(support, candidates, aggregate):
        cos = torch.einsum("asd,bd->asb", F.normalize(support, dim=-1), F.normalize(candidates, dim=-1))
        score = cos.amax(1) if aggregate == "max" else cos.mean(1)
        return score.masked_fill(torch.eye(len(score), dtype=torch.bool), 0.0)

    def learner(support, candidates, aggregate):
        score = fn(support, candidates, aggregate)
        return score.masked_fill(torch.eye(len(score), dtype=torch.bool), 0.0) if isinstance(score, torch.Tensor) else score

    gen = torch.Generator().manual_seed(9)
    cases = [(torch.randn(b, s, d, generator=gen), torch.randn(b, d, generator=gen), agg)
             for b, s, d, agg in [(4, 2, 3, "max"), (8, 3, 16, "mean"), (6, 1, 8, "max"), (10, 4, 8, "mean")]]
    return _run("support scores", learner, cases, reference, atol=1e-5, hint="Did you normalise both sides?")


def check_ring_mask(fn: Callable[[torch.Tensor, int, float, float], torch.Tensor]) -> bool:
    """``fn(logits, B, lower, upper) -> (2B, 2B) bool``: each anchor's negatives inside the ring."""
    from .losses._common import cosine_logits
    from .losses.ring import ring_mask

    gen = torch.Generator().manual_seed(10)
    cases = []
    for b, lo, up in [(4, 0.0, 1.0), (8, 0.1, 0.5), (16, 0.05, 0.6), (6, 0.5, 1.0)]:
        cases.append((cosine_logits(torch.randn(b, 8, generator=gen), torch.randn(b, 8, generator=gen), 0.5), b, lo, up))
    return _run("ring mask", lambda *a: fn(*a).to(torch.float32), cases,
                lambda *a: ring_mask(*a).to(torch.float32), atol=0, rtol=0,
                hint="Rank 0 is the most similar negative; self and positive are never kept.")


def check_ring_schedule(fn: Callable[[float, float, float], tuple]) -> bool:
    """``fn(progress, lower, upper) -> (lower_now, upper_now)``: the annealed ring."""
    from .objectives import annealed_ring

    cases = [(p, lo, up) for p in (0.0, 0.25, 0.5, 1.0, 1.5) for lo, up in [(0.05, 0.6), (0.2, 0.5)]]
    return _run("ring schedule", lambda *a: torch.tensor(fn(*a), dtype=torch.float64), cases,
                lambda *a: torch.tensor(annealed_ring(*a), dtype=torch.float64), atol=1e-9,
                hint="At progress 0 the ring is (0, 1); past 1 it stays at (lower, upper).")


def _projection_cases(seed: int, sizes=((4, 8), (8, 16), (16, 32))):
    gen = torch.Generator().manual_seed(seed)
    return gen, [(torch.randn(b, d, generator=gen), torch.randn(b, d, generator=gen)) for b, d in sizes]


def check_nonsemantic_loss(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, float, float], torch.Tensor]) -> bool:
    """``fn(z1, z2, z_neg, t, alpha) -> scalar``: NT-Xent with ``alpha``-scaled non-semantic negatives,
    ``z_neg`` of shape ``(B, K, D)``."""
    from .losses import nonsemantic_nt_xent

    gen, pairs = _projection_cases(11)
    cases = [(z1, z2, torch.randn(z1.shape[0], k, z1.shape[1], generator=gen), t, a)
             for (z1, z2), k, t, a in zip(pairs, (1, 2, 3), (0.5, 0.2, 1.0), (2.0, 1.0, 3.0))]
    return _run("non-semantic loss", fn, cases, nonsemantic_nt_xent,
                hint="Both views of image i see its K negatives, with logits alpha * cos / t, in the denominator.")


def check_patchify(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> bool:
    """``fn(x, p) -> (N, (H/p)·(W/p), C, p, p)``: the p×p patches of each image in row-major order."""
    def reference(x, p):
        n, c, h, w = x.shape
        return x.unfold(2, p, p).unfold(3, p, p).permute(0, 2, 3, 1, 4, 5).reshape(n, (h // p) * (w // p), c, p, p)

    gen = torch.Generator().manual_seed(12)
    cases = [(torch.rand(2, 3, 8, 8, generator=gen), 4), (torch.rand(3, 1, 12, 12, generator=gen), 3),
             (torch.rand(1, 3, 28, 28, generator=gen), 7)]
    return _run("patchify", fn, cases, reference, atol=0, rtol=0,
                hint="Patch (r, c) of the grid holds rows r·p..(r+1)·p and columns c·p..(c+1)·p; order by r, then c.")


def check_relative_difficulty_weights(fn: Callable[..., torch.Tensor]) -> bool:
    """``fn(d1, d2, b1, b2, t) -> (2B, 2B)``: WCL's weights; only the negative entries are compared."""
    from .losses import relative_difficulty_weights
    from .losses._common import negative_mask

    gen, pairs = _projection_cases(13)
    cases = [(d1, d2, torch.randn_like(d1), torch.randn_like(d2), t) for (d1, d2), t in zip(pairs, (0.5, 0.2, 1.0))]

    def only_negatives(f):
        return lambda d1, d2, b1, b2, t: torch.where(negative_mask(d1.shape[0], d1.device),
                                                     f(d1, d2, b1, b2, t).float(), torch.zeros(()))
    return _run("relative difficulty weights", only_negatives(fn), cases, only_negatives(relative_difficulty_weights),
                hint="s = exp(cos/t), L2-normalised over each anchor's negatives; w = 1 + s_d / (s_b + s_d).")


def check_biased_triplet_loss(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]) -> bool:
    """``fn(b1, b2, tau_plus) -> scalar``: WCL's self-supervised triplet loss of the biased encoder."""
    from .losses import biased_triplet_loss

    _, pairs = _projection_cases(14)
    cases = [(b1, b2, tp) for (b1, b2), tp in zip(pairs, (0.0, 0.1, 0.3))]
    return _run("biased triplet loss", fn, cases, biased_triplet_loss,
                hint="Squared distances of unit vectors; d_pos - (sum of negative distances - tau+ N d_pos) / (1 - tau+).")
