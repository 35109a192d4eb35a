"""The label oracle (cl_course.losses.oracle) against a loop that skips same-class negatives."""
from __future__ import annotations

import pytest
import torch

from cl_course.losses import (
    nt_xent,
)


def oracle_loop(z1, z2, labels, t):
    z = torch.nn.functional.normalize(torch.cat([z1, z2]).double(), dim=1)
    y = torch.cat([labels, labels])
    n2, b = z.shape[0], z.shape[0] // 2
    out = []
    for i in range(n2):
        p = (i + b) % n2
        pos = torch.exp(z[i] @ z[p] / t)
        negs = [torch.exp(z[i] @ z[k] / t) for k in range(n2) if k not in (i, p) and y[k] != y[i]]
        out.append(-torch.log(pos / (pos + sum(negs, torch.zeros((), dtype=torch.float64)))))
    return torch.stack(out).mean()


def test_oracle_nt_xent_matches_a_loop_that_skips_same_class_negatives():
    from cl_course.losses import oracle_nt_xent
    g = torch.Generator().manual_seed(11)
    z1, z2 = torch.randn(10, 8, generator=g), torch.randn(10, 8, generator=g)
    labels = torch.randint(0, 3, (10,), generator=g)
    assert oracle_nt_xent(z1, z2, labels, 0.5).item() == pytest.approx(oracle_loop(z1, z2, labels, 0.5).item(), rel=1e-5)


def test_oracle_with_all_distinct_labels_is_nt_xent_and_drops_lower_the_loss():
    from cl_course.losses import nt_xent_without, oracle_nt_xent
    g = torch.Generator().manual_seed(12)
    z1, z2 = torch.randn(8, 8, generator=g), torch.randn(8, 8, generator=g)
    torch.testing.assert_close(oracle_nt_xent(z1, z2, torch.arange(8), 0.5), nt_xent(z1, z2, 0.5))
    drop = torch.zeros(8, 8, dtype=torch.bool)
    torch.testing.assert_close(nt_xent_without(z1, z2, drop, 0.5), nt_xent(z1, z2, 0.5))
    drop[0, 1] = True
    assert nt_xent_without(z1, z2, drop, 0.5) < nt_xent(z1, z2, 0.5)


def test_oracle_rejects_bad_labels_and_masks():
    from cl_course.losses import nt_xent_without, oracle_nt_xent
    z = torch.randn(4, 8)
    with pytest.raises(ValueError, match="labels"):
        oracle_nt_xent(z, z, torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="drop"):
        nt_xent_without(z, z, torch.zeros(4, 4))
