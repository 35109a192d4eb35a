"""The exercise checkers (cl_course.harness.exercises): accept the package's answer, say 'not attempted', reject wrong ones with values."""
from __future__ import annotations

import pytest
import torch

from cl_course.diagnostics import (
    same_class_negative_share,
)
from cl_course.evaluate import alignment, uniformity
from cl_course.harness import exercises


def _not_done(*args):
    raise NotImplementedError


@pytest.mark.parametrize("checker, reference, wrong", [
    (exercises.check_same_class_share, same_class_negative_share,
     lambda labels: 1.0 / (len(torch.unique(labels)))),
    (exercises.check_alignment, alignment,
     lambda z1, z2: (z1 - z2).norm(dim=1).pow(2).mean().item()),  # forgot to normalise
    (exercises.check_uniformity, uniformity,
     lambda z: torch.log(torch.exp(-2 * torch.pdist(z).pow(2)).mean()).item()),  # forgot to normalise
])
def test_exercise_checker_outcomes(checker, reference, wrong, capsys):
    assert checker(reference) is True
    assert "correct" in capsys.readouterr().out
    assert checker(_not_done) is False
    assert "not attempted yet" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"case \d+, inputs .*expected"):
        checker(wrong)


def test_exercise_checkers_accept_tensor_answers():
    assert exercises.check_alignment(lambda z1, z2: torch.tensor(alignment(z1, z2))) is True


def test_exercise_checker_rejects_an_answer_off_by_a_little():
    with pytest.raises(AssertionError, match=r"uniformity: case 0"):
        exercises.check_uniformity(lambda z: uniformity(z) + 1e-2)


def test_tensor_exercise_checkers_accept_the_answer_and_reject_wrong_ones(capsys):
    import math

    import torch

    from cl_course.losses import importance_weights

    assert exercises.check_importance_weights(importance_weights) is True
    with pytest.raises(AssertionError, match="mean 1"):
        exercises.check_importance_weights(lambda z1, z2, t, beta: importance_weights(z1, z2, t, beta) / 2)
    with pytest.raises(AssertionError, match="shape"):
        exercises.check_importance_weights(lambda z1, z2, t, beta: importance_weights(z1, z2, t, beta)[:, :-1])

    def debiased(pos, neg, t, tau_plus):
        n = neg.shape[1]
        g = (neg.exp().mean(1) - tau_plus * pos.exp()) / (1 - tau_plus)
        return n * torch.clamp(g, min=math.exp(-1 / t))

    assert exercises.check_debiased_negatives(debiased) is True
    with pytest.raises(AssertionError, match="clamp"):
        exercises.check_debiased_negatives(lambda pos, neg, t, tp: neg.exp().sum(1))  # the biased sum
    assert exercises.check_class_prior(lambda y: ((torch.bincount(y).float() / len(y)) ** 2).sum().item()) is True
    with pytest.raises(AssertionError):
        exercises.check_class_prior(lambda y: 1 / len(torch.unique(y)))  # 1/C is wrong for unbalanced classes
    assert exercises.check_effective_negatives(lambda w: ((w.sum(1) ** 2) / (w ** 2).sum(1)).mean().item()) is True
    with pytest.raises(AssertionError):
        exercises.check_effective_negatives(lambda w: float(w.shape[1]))


def test_shortcut_exercise_checkers_accept_the_package_and_reject_wrong_answers(capsys):
    from cl_course.losses import (
        biased_triplet_loss,
        nonsemantic_nt_xent,
        nt_xent,
        relative_difficulty_weights,
    )
    from cl_course.negatives import patchify

    assert exercises.check_nonsemantic_loss(nonsemantic_nt_xent) is True
    with pytest.raises(AssertionError, match="non-semantic loss: case"):
        exercises.check_nonsemantic_loss(lambda z1, z2, zn, t, a: nt_xent(z1, z2, t))  # forgot the copies
    assert exercises.check_nonsemantic_loss(_not_done) is False
    assert exercises.check_patchify(patchify) is True
    with pytest.raises(AssertionError, match="patchify: case"):  # column-major grid order
        exercises.check_patchify(lambda x, p: patchify(x.transpose(2, 3), p).transpose(3, 4))
    assert exercises.check_relative_difficulty_weights(relative_difficulty_weights) is True
    with pytest.raises(AssertionError, match="relative difficulty weights: case"):  # encoders swapped
        exercises.check_relative_difficulty_weights(lambda d1, d2, b1, b2, t: relative_difficulty_weights(b1, b2, d1, d2, t))
    assert exercises.check_biased_triplet_loss(biased_triplet_loss) is True
    with pytest.raises(AssertionError, match="biased triplet loss: case"):  # no debiasing
        exercises.check_biased_triplet_loss(lambda b1, b2, tp: biased_triplet_loss(b1, b2, 0.0))
    assert "not attempted yet" in capsys.readouterr().out


def test_the_later_shortcut_exercise_checkers_accept_the_answer_and_reject_wrong_ones(capsys):
    """06's copy share, 07's reversed weights and margin triplet: exercises that vary the method
    shown in the notebook rather than re-type it."""
    from cl_course.harness.exercises import diminished_semantics as d06
    from cl_course.harness.exercises import wcl as d07
    from cl_course.losses import relative_difficulty_weights

    assert exercises.check_copy_share(d06.copy_share) is True
    with pytest.raises(AssertionError, match="copy share: case"):  # alpha forgotten
        exercises.check_copy_share(lambda z1, z2, zn, t, a: d06.copy_share(z1, z2, zn, t, 1.0))
    assert exercises.check_copy_share(_not_done) is False
    z1, z2, zn = torch.randn(4, 8), torch.randn(4, 8), torch.randn(4, 2, 8)
    share = d06.copy_share(z1, z2, zn, 0.5, 2.0)
    assert share.shape == (8,) and ((share > 0) & (share < 1)).all()
    assert (d06.copy_share(z1, z2, zn, 0.5, 8.0) != share).any()

    assert exercises.check_reversed_weights(d07.reversed_difficulty_weights) is True
    with pytest.raises(AssertionError, match="reversed weights: case"):  # section 2's weight, not reversed
        exercises.check_reversed_weights(relative_difficulty_weights)
    assert exercises.check_margin_triplet(d07.margin_triplet_loss) is True
    with pytest.raises(AssertionError, match="margin triplet loss: case"):  # a sum over negatives, not a mean
        exercises.check_margin_triplet(lambda b1, b2, m: d07.margin_triplet_loss(b1, b2, m) * (2 * b1.shape[0] - 2))
    b = torch.nn.functional.normalize(torch.randn(4, 8), dim=1)
    assert d07.margin_triplet_loss(b, b, 0.0).item() == pytest.approx(0.0, abs=1e-6)  # every negative farther than its positive
    assert exercises.check_margin_triplet(_not_done) is False
    assert "not attempted yet" in capsys.readouterr().out
