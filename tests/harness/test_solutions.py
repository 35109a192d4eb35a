"""The instructors' solutions (solutions/ at the repo root): every checker accepts its worked answer
and rejects a deliberately wrong variant of it; every checker and every notebook exercise stub has
a solution under the stub's name; the solutions are worked answers, not calls into the package."""
from __future__ import annotations

import ast
import importlib
import json
import math
import re
from pathlib import Path

import pytest
import torch

from cl_course.harness import exercises

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SOLUTIONS = sorted((REPO / "solutions").glob("s[0-9][0-9]_*.py"))
# an exercise stub: `def NAME(PARAMS):` whose body starts with `raise NotImplementedError`
STUB = re.compile(r"def (\w+)\(([^)]*)\):\s*\n\s+raise NotImplementedError")


def solution_module(notebook_stem: str):
    """The solutions module of a notebook: ``solutions.s01_simclr_basics`` for ``01_simclr_basics``."""
    return importlib.import_module(f"solutions.s{notebook_stem}")


def _unit(z):
    return z / z.norm(dim=-1, keepdim=True)


def _anchors(z1, z2):
    return _unit(torch.cat([z1, z2]))


# The wrong variants: each a mistake a learner could make, written apart from the solution.
def _share_counting_self(labels):  # the anchor itself counted among its negatives
    y = torch.cat([labels, labels])
    n = len(y)
    not_positive = torch.ones(n, n, dtype=torch.bool)
    not_positive[torch.arange(n), (torch.arange(n) + len(labels)) % n] = False
    return (((y[:, None] == y[None, :]) & not_positive).sum() / not_positive.sum()).item()


def _alignment_not_squared(z1, z2):  # E ||.|| instead of E ||.||^2
    return (_unit(z1) - _unit(z2)).norm(dim=1).mean().item()


def _uniformity_with_self_pairs(z):  # the mean also runs over x with itself (distance 0)
    sq = torch.cdist(_unit(z), _unit(z)).pow(2)
    return torch.log(torch.exp(-2 * sq).mean()).item()


def _hcl_weights_summing_to_1(z1, z2, t, beta):  # softmax without the factor N: rows sum to 1
    from solutions.s02_hard_negatives import my_weights
    w = my_weights(z1, z2, t, beta)
    return w / w.shape[1]


def _ess_sum_not_squared(w):  # (sum w) / sum w^2
    return (w.sum(1) / (w ** 2).sum(1)).mean().item()


def _prior_one_over_c(labels):  # 1/C holds for balanced classes only
    return 1 / len(torch.unique(labels))


def _debiased_clamp_after_n(pos, neg, t, tau_plus):  # N·g clamped at e^{-1/t}, not at N e^{-1/t}
    n = neg.shape[1]
    g = (neg.exp().mean(1) - tau_plus * pos.exp()) / (1 - tau_plus)
    return torch.clamp(n * g, min=math.exp(-1 / t))


def _precision_recall_with_diagonal(flags, labels):  # an image paired with itself counted as same-class
    same = labels[:, None] == labels[None, :]
    hits = (flags & same).sum().item()
    return hits / flags.sum().item(), hits / same.sum().item()


def _support_unnormalised_candidates(support, candidates, aggregate):  # only the support views normalised
    cos = _unit(support) @ candidates.T
    return cos.amax(1) if aggregate == "max" else cos.mean(1)


def _ring_upper_inclusive(logits, B, lower, upper):  # off by one: keeps rank ceil(upper·N) too
    from solutions.s05_ring_sampling import my_ring
    n = 2 * B - 2
    return my_ring(logits, B, lower, min(1.0, (math.ceil(upper * n) + 1) / n))  # one rank more at the top end


def _schedule_not_clamped(progress, lower, upper):  # keeps narrowing past the end of the annealing
    return lower * progress, 1.0 - (1.0 - upper) * progress


def _nonsemantic_without_alpha(z1, z2, z_neg, t, alpha):  # the copies' logits not scaled by alpha
    from solutions.s06_diminished_semantics import my_nonsemantic
    return my_nonsemantic(z1, z2, z_neg, t, 1.0)


def _patchify_column_major(x, p):  # the grid read column by column
    n, c, h, w = x.shape
    return x.reshape(n, c, h // p, p, w // p, p).permute(0, 4, 2, 1, 3, 5).reshape(n, -1, c, p, p)


def _wcl_weights_swapped(d1, d2, b1, b2, t):  # the two encoders swapped: s~b / (s~b + s~d)
    from solutions.s07_wcl_difficulty import my_weights
    return my_weights(b1, b2, d1, d2, t)


def _triplet_not_squared(b1, b2, tau_plus):  # Euclidean distances, not squared
    b = _anchors(b1, b2)
    batch, n = b1.shape[0], 2 * b1.shape[0]
    dist = torch.cdist(b, b)
    idx = torch.arange(n)
    d_pos = dist[idx, (idx + batch) % n]
    negative = torch.ones(n, n, dtype=torch.bool)
    negative[idx, idx] = False
    negative[idx, (idx + batch) % n] = False
    d_neg = (dist * negative).sum(1)
    return (d_pos - (d_neg - tau_plus * (n - 2) * d_pos) / (1 - tau_plus)).mean()


def _copy_share_without_positive(z1, z2, z_neg, t, alpha):  # the positive left out of the denominator
    batch, n = z1.shape[0], 2 * z1.shape[0]
    z = _anchors(z1, z2)
    zn = torch.cat([_unit(z_neg), _unit(z_neg)])
    idx = torch.arange(n)
    keep = torch.ones(n, n, dtype=torch.bool)
    keep[idx, idx] = False
    keep[idx, (idx + batch) % n] = False
    ordinary = (torch.exp(z @ z.T / t) * keep).sum(1)
    copies = torch.exp(alpha * (z[:, None, :] * zn).sum(-1) / t).sum(1)
    return copies / (ordinary + copies)


def _reversed_weights_not_reversed(d1, d2, b1, b2, t):  # section 2's weight, the roles not swapped
    from solutions.s07_wcl_difficulty import my_weights
    return my_weights(d1, d2, b1, b2, t)


def _margin_triplet_without_hinge(b1, b2, margin):  # no max(0, .): the loss keeps pushing, like the margin-free one
    b = _anchors(b1, b2)
    batch, n = b1.shape[0], 2 * b1.shape[0]
    dist = torch.cdist(b, b).pow(2)
    idx = torch.arange(n)
    d_pos = dist[idx, (idx + batch) % n]
    keep = torch.ones(n, n, dtype=torch.bool)
    keep[idx, idx] = False
    keep[idx, (idx + batch) % n] = False
    return (((d_pos[:, None] - dist + margin) * keep).sum(1) / (n - 2)).mean()


# checker -> (notebook, the solution's name, a wrong answer)
CASES = {
    "check_same_class_share": ("01_simclr_basics", "same_class_share", _share_counting_self),
    "check_alignment": ("01_simclr_basics", "my_alignment", _alignment_not_squared),
    "check_uniformity": ("01_simclr_basics", "my_uniformity", _uniformity_with_self_pairs),
    "check_importance_weights": ("02_hard_negatives", "my_weights", _hcl_weights_summing_to_1),
    "check_effective_negatives": ("02_hard_negatives", "effective_negatives", _ess_sum_not_squared),
    "check_class_prior": ("03_debiasing", "class_prior", _prior_one_over_c),
    "check_debiased_negatives": ("03_debiasing", "debiased_negatives", _debiased_clamp_after_n),
    "check_precision_recall": ("04_false_negative_cancellation", "precision_recall", _precision_recall_with_diagonal),
    "check_support_scores": ("04_false_negative_cancellation", "support_scores", _support_unnormalised_candidates),
    "check_ring_mask": ("05_ring_sampling", "my_ring", _ring_upper_inclusive),
    "check_ring_schedule": ("05_ring_sampling", "my_schedule", _schedule_not_clamped),
    "check_nonsemantic_loss": ("06_diminished_semantics", "my_nonsemantic", _nonsemantic_without_alpha),
    "check_patchify": ("06_diminished_semantics", "my_patchify", _patchify_column_major),
    "check_relative_difficulty_weights": ("07_wcl_difficulty", "my_weights", _wcl_weights_swapped),
    "check_biased_triplet_loss": ("07_wcl_difficulty", "my_triplet", _triplet_not_squared),
    "check_copy_share": ("06_diminished_semantics", "my_copy_share", _copy_share_without_positive),
    "check_reversed_weights": ("07_wcl_difficulty", "my_reversed_weights", _reversed_weights_not_reversed),
    "check_margin_triplet": ("07_wcl_difficulty", "my_margin_triplet", _margin_triplet_without_hinge),
}


@pytest.mark.parametrize("checker", sorted(CASES))
def test_checker_accepts_the_solution_and_rejects_a_wrong_answer(checker, capsys):
    notebook, name, wrong = CASES[checker]
    check = getattr(exercises, checker)
    assert check(getattr(solution_module(notebook), name)) is True
    assert "correct" in capsys.readouterr().out
    with pytest.raises(AssertionError):
        check(wrong)


def test_every_checker_has_a_solution():
    checkers = {n for n in dir(exercises) if n.startswith("check_")} | set(exercises.__all__)
    assert checkers == set(CASES), "a checker without a solution (or a solution for no checker)"


def notebook_code(path: Path) -> list[str]:
    return ["".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def exercise_stubs(path: Path) -> list[str]:
    """The names of the functions a notebook leaves to the learner (``def NAME(...)`` whose body
    is ``raise NotImplementedError``)."""
    return [name for src in notebook_code(path) for name, _ in STUB.findall(src)]


def test_the_notebooks_have_exercise_stubs():
    stubs = [n for p in NOTEBOOKS for n in exercise_stubs(p)]
    assert len(stubs) >= 14


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_exercise_stub_of_a_notebook_has_a_solution_with_its_signature(path):
    module = solution_module(path.stem)
    for src in notebook_code(path):
        for name, params in STUB.findall(src):
            assert hasattr(module, name), f"{module.__name__} lacks {name}"
            want = [p.strip() for p in params.split(",") if p.strip()]
            assert list(getattr(module, name).__code__.co_varnames[:len(want)]) == want
            assert getattr(module, name).__code__.co_argcount == len(want)
        # and each checker the notebook calls is paired here with that notebook's solution
        for checker, name in re.findall(r"exercises\.(check_\w+)\((\w+)\)", src):
            assert CASES[checker][:2] == (path.stem, name)


def test_every_notebook_has_a_solutions_module():
    assert {p.stem[1:] for p in SOLUTIONS} == {p.stem for p in NOTEBOOKS}


@pytest.mark.parametrize("path", SOLUTIONS, ids=[p.stem for p in SOLUTIONS])
def test_the_solutions_are_worked_answers_not_calls_into_the_package(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported <= {"math", "torch"}, imported
