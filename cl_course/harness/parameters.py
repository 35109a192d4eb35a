"""A notebook's parameters as papermill passes them: which names a notebook has, which names a run
injected that it does not have, and list-valued parameters given as a string or a single value.

papermill only warns about a parameter the notebook does not have (``Passed unknown parameter``)
and runs on with the default, and its ``-p`` passes every value as a number or a string, never a
list. The notebook's set-up calls :func:`check_injected` with its namespace: papermill's injected
cell is in the kernel's input history (``In``) as a cell whose first line is ``# Parameters``.
"""
from __future__ import annotations

import ast
import difflib
import json
from pathlib import Path

from .profiles import ConfigError

NOTEBOOKS = Path(__file__).resolve().parent.parent.parent / "notebooks"
INJECTED_HEADER = "# Parameters"  # the first line of the cell papermill injects (its Python translator)


def notebook_defaults(notebook: str, folder: Path = NOTEBOOKS) -> dict | None:
    """``{name: default}`` of the cell tagged ``parameters`` of ``folder/<notebook>.ipynb`` (defaults
    that are not literals are ``None``); ``None`` when the notebook file is not there."""
    path = folder / f"{notebook}.ipynb"
    if not path.is_file():
        return None
    for cell in json.loads(path.read_text())["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            return assignments("".join(cell["source"]))
    return {}


def assignments(source: str) -> dict:
    """``{name: value}`` of the top-level ``name = literal`` statements of ``source`` (``None`` for a
    value that is not a literal)."""
    out = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                out[node.targets[0].id] = None
    return out


def injected_names(namespace: dict) -> list[str]:
    """The names papermill injected into this kernel (its latest ``# Parameters`` cell), in order."""
    for source in reversed(namespace.get("In") or []):
        if source.splitlines()[:1] == [INJECTED_HEADER]:
            return list(assignments(source))
    return []


def as_list(name: str, value, default=None) -> list:
    """A list-valued parameter given as papermill can give it: a list or tuple as it is; a string
    holding a list (``"[4, 8]"``, what ``-p NAME "[4, 8]"`` passes) read as one; one number or one
    word as a list of it. Anything else stops with the syntax that works."""
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            parsed = value  # one bare word, e.g. -p kinds patch
        if isinstance(parsed, (list, tuple)):
            return list(parsed)
        if isinstance(parsed, (str, int, float)) and not isinstance(parsed, bool):
            return [parsed]
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        return [value]
    example = default if default else [1, 2]
    raise ConfigError(f"{name}={value!r} is invalid: it is a list. Give it as -y \"{name}: {list(example)}\" "
                      f"(papermill) or -p {name} \"{list(example)}\" (the course runner)")


def unknown_parameter(name: str, known, notebook: str) -> ConfigError:
    """The error for a parameter ``notebook`` does not have: its closest known names, then all."""
    close = difflib.get_close_matches(name, sorted(known), n=3)
    hint = f"did you mean {' or '.join(close)}? " if close else ""
    return ConfigError(f"unknown parameter {name!r} for {notebook}: {hint}its parameters are {', '.join(sorted(known))}")


def check_injected(notebook: str, namespace: dict, folder: Path = NOTEBOOKS) -> None:
    """Stop on a parameter that papermill injected but the notebook does not have (naming the
    closest names), and turn list-valued parameters given as strings or single values into lists,
    in ``namespace``. Does nothing outside papermill or when the notebook file is not found."""
    defaults = notebook_defaults(notebook, folder)
    if defaults is None:
        return
    for name in injected_names(namespace):
        if name not in defaults:
            raise unknown_parameter(name, defaults, notebook)
        if isinstance(defaults[name], (list, tuple)):
            namespace[name] = as_list(name, namespace[name], defaults[name])
