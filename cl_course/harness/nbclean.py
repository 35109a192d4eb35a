"""Strip outputs and execution counts from notebooks (notebooks are stored clean: docs/architecture.md).

    python -m cl_course.harness.nbclean notebooks/*.ipynb          # clean in place
    python -m cl_course.harness.nbclean --check notebooks/*.ipynb  # exit 1 if any is unclean
"""
from __future__ import annotations

import sys

import nbformat


def problems(nb) -> list[str]:
    found = []
    code = [c for c in nb.cells if c.cell_type == "code"]
    if any(c.get("outputs") for c in code):
        found.append("has outputs")
    if any(c.get("execution_count") is not None for c in code):
        found.append("has execution counts")
    if not any("parameters" in c.metadata.get("tags", []) for c in code):
        found.append("has no cell tagged 'parameters'")
    if nb.metadata.get("kernelspec", {}).get("name") != "python3":
        found.append("kernelspec is not python3")
    return found


def clean(nb):
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
        c.metadata.pop("execution", None)
        c.metadata.pop("papermill", None)
    nb.metadata.pop("papermill", None)
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    return nb


def main(argv: list[str]) -> int:
    check = "--check" in argv
    paths = [a for a in argv if a != "--check"]
    bad = 0
    for path in paths:
        nb = nbformat.read(path, as_version=4)
        if check:
            for p in problems(nb):
                print(f"{path}: {p}")
                bad += 1
        else:
            nbformat.write(clean(nb), path)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
