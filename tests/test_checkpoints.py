"""Encoder files (cl_course.checkpoints): the on-disk format, the fingerprint check, the code version."""
from __future__ import annotations

import pickle

import pytest
import torch

from cl_course import checkpoints
from cl_course.augment import SimCLRViews
from cl_course.models import build_model
from cl_course.objectives import RingObjective, SimCLRObjective, SupportSetObjective
from cl_course.train import CheckpointError


def model(seed=0):
    torch.manual_seed(seed)
    return build_model("small_cnn", 1, 4, 2, 1, 1)


def fingerprint(m, **changes):
    fp = checkpoints.encoder_fingerprint(recipe={"epochs": 2, "lr": 1e-3, "batch_size": 16, "not a recipe key": 1},
                                         seed=0, method={"method": "SimCLR", "temperature": 0.5}, data="digits",
                                         n_images=64, model=m)
    fp.update(changes)
    return fp


def test_a_saved_encoder_loads_into_a_fresh_model_with_its_history(tmp_path):
    trained, fresh = model(0), model(1)
    fp = fingerprint(trained)
    path = checkpoints.save_encoder(tmp_path / "a" / "enc.pt", trained, fp, [{"epoch": 1, "loss": 2.0}])
    record = checkpoints.load_encoder(path, fresh, fp)
    assert record["history"] == [{"epoch": 1, "loss": 2.0}] and record["fingerprint"] == fp
    for a, b in zip(trained.state_dict().values(), fresh.state_dict().values()):
        assert torch.equal(a, b)
    assert "not a recipe key" not in fp["recipe"] and fp["recipe"]["epochs"] == 2


@pytest.mark.parametrize("change, named", [(dict(seed=1), "seed"), (dict(data="mnist"), "data"),
                                           (dict(code="something else"), "code")])
def test_a_fingerprint_that_differs_is_refused_naming_what_differs(tmp_path, change, named):
    m = model()
    path = checkpoints.save_encoder(tmp_path / "enc.pt", m, fingerprint(m))
    with pytest.raises(CheckpointError, match=rf"{named}: saved .* now"):
        checkpoints.load_encoder(path, model(1), fingerprint(m, **change))


def test_files_that_are_not_encoder_checkpoints_are_refused(tmp_path):
    empty, other, unsafe = tmp_path / "empty.pt", tmp_path / "other.pt", tmp_path / "unsafe.pt"
    empty.write_bytes(b"")
    torch.save({"model": {}}, other)
    unsafe.write_bytes(pickle.dumps(object()))
    with pytest.raises(CheckpointError, match="cannot be read"):
        checkpoints.read_encoder(empty)
    with pytest.raises(CheckpointError, match="not an encoder checkpoint"):
        checkpoints.read_encoder(other)
    with pytest.raises(CheckpointError, match="cannot be read"):
        checkpoints.read_encoder(unsafe)
    with pytest.raises(FileNotFoundError):
        checkpoints.read_encoder(tmp_path / "missing.pt")


def test_a_model_of_another_shape_is_refused(tmp_path):
    m = model()
    path = checkpoints.save_encoder(tmp_path / "enc.pt", m, {"any": 1})
    with pytest.raises(CheckpointError, match="does not fit this model"):
        checkpoints.load_encoder(path, build_model("small_cnn", 1, 8, 2, 1, 1), None)


def test_the_code_version_is_per_objective_and_stable():
    views = SimCLRViews(size=16)
    simclr, fnc, ring = (checkpoints.code_version(o) for o in (SimCLRObjective(views), SupportSetObjective(views),
                                                                 RingObjective(views)))
    assert len({simclr, fnc, ring}) == 3
    assert simclr == checkpoints.code_version(SimCLRObjective(views, temperature=0.1))  # knobs are not code
    assert len(simclr) == 12 and checkpoints.code_version() == checkpoints.code_version()


SOURCE = '''"""Module docstring."""
import math  # a trailing comment

# a comment on its own line


def f(x):
    """Docstring of f,
    over two lines."""
    text = """a string
# not a comment

that keeps its blank line"""
    return math.sqrt(x) + len(text)


class C:
    "one-line docstring"
    def g(self): "shares its line"; return 1
'''


def test_code_lines_leave_out_docstrings_comments_and_blank_lines():
    assert checkpoints.code_lines(SOURCE).splitlines() == [
        "import math",
        "def f(x):",
        '    text = """a string',
        "# not a comment",  # inside a string literal: kept, with its blank line
        "",
        'that keeps its blank line"""',
        "    return math.sqrt(x) + len(text)",
        "class C:",
        '    def g(self): "shares its line"; return 1',  # a docstring sharing its line with code stays
    ]


@pytest.mark.parametrize("edit", [
    ('"""Module docstring."""', '"""Another module docstring."""'),
    ("over two lines.", "over two lines, reworded."),
    ("# a trailing comment", "# another trailing comment"),
    ("# a comment on its own line", "# a comment on its own line\n# and a second one\n\n"),
    ('"one-line docstring"', '"one-line docstring, longer"'),
    ("\n", "\r\n"),
])
def test_code_lines_do_not_change_with_documentation(edit):
    assert checkpoints.code_lines(SOURCE.replace(*edit)) == checkpoints.code_lines(SOURCE)


@pytest.mark.parametrize("edit", [
    ("math.sqrt(x)", "math.sqrt(x + 1)"),
    ("# not a comment", "# not a comment either"),
    ("that keeps its blank line", "that changes a string literal"),
    ('"shares its line"; return 1', '"shares its line"; return 2'),
    ("    return math.sqrt(x) + len(text)", "    if x:\n        return math.sqrt(x) + len(text)"),
])
def test_code_lines_change_with_code(edit):
    assert checkpoints.code_lines(SOURCE.replace(*edit)) != checkpoints.code_lines(SOURCE)


def test_the_code_version_keeps_through_a_docstring_edit_and_moves_with_code(tmp_path, monkeypatch):
    for name in checkpoints.CORE_MODULES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((checkpoints.PACKAGE / name).read_text(encoding="utf-8"), encoding="utf-8")
    monkeypatch.setattr(checkpoints, "PACKAGE", tmp_path)
    before = checkpoints.code_version()
    train = tmp_path / "train.py"
    source = train.read_text(encoding="utf-8")
    train.write_text(source.replace('"""', '"""A reworded docstring. ', 1), encoding="utf-8")
    assert checkpoints.code_version() == before
    train.write_text(source + "\nEXTRA = 1\n", encoding="utf-8")
    assert checkpoints.code_version() != before


def test_file_names_carry_method_seed_and_a_hash_of_the_whole_fingerprint():
    m = model()
    a, b = fingerprint(m), fingerprint(m, n_images=65)
    assert checkpoints.file_name(a, "cpu").startswith("simclr-cpu-seed0-")
    assert checkpoints.file_name(a, "cpu") != checkpoints.file_name(b, "cpu")
