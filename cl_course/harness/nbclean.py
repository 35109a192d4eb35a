"""Strip outputs and execution counts from notebooks (notebooks are stored clean: docs/architecture.md),
and store the notebook metadata JupyterLab writes for the ``python3`` kernel, so that opening a
notebook in JupyterLab does not mark it changed (and autosave does not rewrite the tracked file).

    python -m cl_course.harness.nbclean notebooks/*.ipynb          # clean in place
    python -m cl_course.harness.nbclean --check notebooks/*.ipynb  # exit 1 if any is unclean
"""
from __future__ import annotations

import sys

import nbformat


def jupyterlab_metadata() -> dict:
    """The notebook metadata JupyterLab sets once the ``python3`` kernel has started: the installed
    kernelspec's name, display name and language, and ipykernel's ``language_info`` (its Python
    version is this interpreter's: on another Python, JupyterLab updates that one field)."""
    from ipykernel.ipkernel import IPythonKernel
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    return {"kernelspec": {"display_name": spec.display_name, "language": spec.language, "name": "python3"},
            "language_info": dict(IPythonKernel.language_info)}


def _without_version(metadata: dict) -> dict:
    info = {k: v for k, v in metadata.get("language_info", {}).items() if k != "version"}
    return {"kernelspec": metadata.get("kernelspec"), "language_info": info}


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
    elif _without_version(nb.metadata) != _without_version(jupyterlab_metadata()):
        found.append("metadata differs from what JupyterLab writes for the python3 kernel (run nbclean)")
    return found


def clean(nb):
    for c in nb.cells:
        if c.cell_type == "code":
            c.outputs, c.execution_count = [], None
        c.metadata.pop("execution", None)
        c.metadata.pop("papermill", None)
    nb.metadata.pop("papermill", None)
    nb.metadata.update(jupyterlab_metadata())
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
