"""Checkers for the exercises of Notebook 04 (false negative cancellation, FNC)."""
from __future__ import annotations

from typing import Callable

import torch

from ...diagnostics import DetectionCounts
from ...losses.fnc import support_scores
from .checking import run_cases


def check_precision_recall(fn: Callable[[torch.Tensor, torch.Tensor], tuple]) -> bool:
    """``fn(flags, labels) -> (precision, recall)`` of false-negative flags against the labels."""
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
    def reference(support, candidates, aggregate):
        score = support_scores(support, candidates, aggregate)
        return score.masked_fill(torch.eye(len(score), dtype=torch.bool), 0.0)

    def learner(support, candidates, aggregate):
        score = fn(support, candidates, aggregate)
        return score.masked_fill(torch.eye(len(score), dtype=torch.bool), 0.0) if isinstance(score, torch.Tensor) else score

    gen = torch.Generator().manual_seed(9)
    cases = [(torch.randn(b, s, d, generator=gen), torch.randn(b, d, generator=gen), agg)
             for b, s, d, agg in [(4, 2, 3, "max"), (8, 3, 16, "mean"), (6, 1, 8, "max"), (10, 4, 8, "mean")]]
    return run_cases("support scores", learner, cases, reference, atol=1e-5, hint="Did you normalise both sides?")
