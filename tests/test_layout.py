"""The package's layout holds: the library never imports the course harness, no module or notebook
reaches into a private module, and every module is in the package map."""
from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGE = REPO / "cl_course"
LIBRARY = sorted(p for p in PACKAGE.rglob("*.py") if "harness" not in p.relative_to(PACKAGE).parts)
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def imported_modules(path: Path, package: str | None = None) -> set[str]:
    """Absolute names of the cl_course modules that ``path`` imports (relative imports resolved
    against ``package``, by default the package the file lies in)."""
    package = package or ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([node.module] if node.module else []))
            names |= {base} | {f"{base}.{a.name}" for a in node.names}
    return {n for n in names if n.startswith("cl_course")}


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_the_library_never_imports_the_course_harness(path):
    assert not [m for m in imported_modules(path) if m.startswith("cl_course.harness")]


def test_the_import_check_sees_relative_and_absolute_harness_imports(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text("from ..harness import session\nimport cl_course.harness.plots\nfrom . import nt_xent\n")
    found = imported_modules(probe, package="cl_course.losses")
    assert {"cl_course.harness.session", "cl_course.harness.plots", "cl_course.losses.nt_xent"} <= found


def notebook_code(path: Path) -> str:
    return "\n".join("".join(c["source"]) for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code")


@pytest.mark.parametrize("path", NOTEBOOKS + sorted(PACKAGE.rglob("*.py")), ids=lambda p: p.name)
def test_nothing_imports_a_private_module_checks_knobs_on_dummy_tensors_or_cites_an_absent_design(path):
    text = notebook_code(path) if path.suffix == ".ipynb" else path.read_text()
    assert not re.search(r"_common|randn\(2, 2\)|DESIGN §", text)
    assert not re.search(r"from cl_course[\w.]*\._\w+ import|import cl_course[\w.]*\._\w+", text)


def test_the_package_map_names_every_module():
    doc = (PACKAGE / "__init__.py").read_text()
    modules = {p.stem for p in PACKAGE.glob("*.py") if p.stem != "__init__"}
    modules |= {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    missing = [m for m in modules if not re.search(rf"\b{m}\b", doc)]
    assert not missing, f"cl_course/__init__.py does not map {missing}"
