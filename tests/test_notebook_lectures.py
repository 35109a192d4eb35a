"""The notebooks read as lectures: every figure is followed by prose that says what to notice, no
markdown cell types a number the run computes (those come from variables, in code cells), every
lecture has a predict-then-run and a modify exercise, and the untrained floor is in every notebook
that trains."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
TRAINING = [p for p in NOTEBOOKS if not p.stem.startswith("08")]

# A code cell draws a figure when it calls a drawing function of the course's plots module, or
# matplotlib / seaborn directly.
FIGURE_CALL = re.compile(r"\bplots\.(?!set_theme\b)[a-z]\w*\(|\bplt\.(subplots|figure|imshow|plot)\(|\bsns\.\w+\(")
MIN_WORDS = 15

# Numbers a run computes, typed into prose: fractions with two or more decimals (accuracies, shares,
# precision), a mean ± std, and decimal percentages (a paper's figures may be quoted on a line that
# names the paper).
MEASURED_NUMBER = re.compile(r"(?<![\w.])0\.\d{2,}|\d\s*±\s*\d")
DECIMAL_PERCENT = re.compile(r"\d+\.\d+\s*%")
CITES_A_PAPER = re.compile(r"paper|report|et al\.", re.I)


def figure_cells(nb) -> list[int]:
    return [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and FIGURE_CALL.search(c.source)]


def opening_prose(markdown: str) -> str:
    """The text of a markdown cell before its first heading (what follows a figure directly)."""
    lines = []
    for line in markdown.splitlines():
        if line.lstrip().startswith("#"):
            break
        lines.append(line)
    return " ".join(lines)


def figures_without_reading(nb) -> list[str]:
    """Figure cells whose next cell is not a markdown cell opening with prose of MIN_WORDS words."""
    problems = []
    for i in figure_cells(nb):
        nxt = nb.cells[i + 1] if i + 1 < len(nb.cells) else None
        words = len(re.findall(r"[A-Za-z]{2,}", opening_prose(nxt.source))) if nxt is not None and nxt.cell_type == "markdown" else 0
        if words < MIN_WORDS:
            problems.append(f"cell {i} draws a figure ({nb.cells[i].source.splitlines()[0][:60]!r}) and the next cell "
                            f"does not read it ({words} words of prose before any heading)")
    return problems


def without_math_and_code(markdown: str) -> str:
    text = re.sub(r"\$\$.*?\$\$", " ", markdown, flags=re.S)
    text = re.sub(r"\$[^$\n]*\$", " ", text)
    text = re.sub(r"```.*?```", " ", text, flags=re.S)
    return re.sub(r"`[^`\n]*`", " ", text)


def typed_metrics(nb) -> list[str]:
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown":
            continue
        for line in without_math_and_code(cell.source).splitlines():
            hits = MEASURED_NUMBER.findall(line)
            if not CITES_A_PAPER.search(line):
                hits += DECIMAL_PERCENT.findall(line)
            found += [f"cell {i}: {h!r} in {line.strip()[:100]!r}" for h in hits]
    return found


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_figure_is_followed_by_prose_that_reads_it(path):
    assert figures_without_reading(nbformat.read(path, as_version=4)) == []


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_markdown_cell_types_a_number_the_run_computes(path):
    assert typed_metrics(nbformat.read(path, as_version=4)) == []


@pytest.mark.parametrize("path", TRAINING, ids=[p.stem for p in TRAINING])
def test_every_lecture_has_a_predict_then_run_and_a_modify_exercise(path):
    markdown = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "markdown")
    assert re.search(r"\*\*\d+\. Predict, then run\.?\*\*", markdown), "no '**N. Predict, then run.**' exercise"
    assert re.search(r"\*\*\d+\. Modify\b[^*]*\*\*", markdown), "no '**N. Modify ...**' exercise"


@pytest.mark.parametrize("path", TRAINING, ids=[p.stem for p in TRAINING])
def test_every_training_notebook_shows_the_untrained_floor(path):
    code = "\n".join(c.source for c in nbformat.read(path, as_version=4).cells if c.cell_type == "code")
    assert "untrained" in code


def _nb(*cells):
    return nbformat.v4.new_notebook(cells=list(cells))


def test_the_figure_check_flags_a_figure_followed_by_code_a_heading_or_a_stub():
    fig = nbformat.v4.new_code_cell("fig = plots.plot_sweep(x, y, xlabel='t')")
    read = nbformat.v4.new_markdown_cell("The curve falls as t grows: a sharper temperature learns faster in the "
                                         "first epoch, which is what the text above predicts for short runs.")
    assert figures_without_reading(_nb(fig, read)) == []
    assert len(figures_without_reading(_nb(fig, nbformat.v4.new_code_cell("print(1)")))) == 1
    assert len(figures_without_reading(_nb(fig, nbformat.v4.new_markdown_cell("## 5. Next section\n" + read.source)))) == 1
    assert len(figures_without_reading(_nb(fig, nbformat.v4.new_markdown_cell("See above.")))) == 1
    assert len(figures_without_reading(_nb(fig))) == 1
    assert figure_cells(_nb(nbformat.v4.new_code_cell("plots.set_theme()"))) == []
    assert figure_cells(_nb(nbformat.v4.new_code_cell("fig, ax = plt.subplots()"))) == [0]


def test_the_metric_check_flags_typed_accuracies_and_spreads_but_not_math_code_or_a_papers_figures():
    md = nbformat.v4.new_markdown_cell
    assert typed_metrics(_nb(md("SimCLR reaches 0.573 after ten epochs."))) != []
    assert typed_metrics(_nb(md("| SimCLR | 0.6 ± 0.1 |"))) != []
    assert typed_metrics(_nb(md("We measured 56.9 % here."))) != []
    assert typed_metrics(_nb(md("Chance is $1/C = 0.10$; run `-p temperature 0.05`."))) == []
    assert typed_metrics(_nb(md("The paper reports 80.15 % for SimCLR."))) == []
    assert typed_metrics(_nb(md("A batch of 256 images, 10 % of them same-class."))) == []
