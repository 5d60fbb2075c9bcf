"""Read chapter notebooks and run their cells in-process (for structure and mutant tests)."""

from __future__ import annotations

import contextlib
import html
import io
import os
import re
from typing import Iterator

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from IPython.core.inputtransformer2 import TransformerManager  # noqa: E402

from instructor.demo_cells import is_tagged_demo  # noqa: E402
from instructor.nbgrader_cli import chapter_ids  # noqa: E402,F401
from instructor.notebooks import ROOT, defined_functions, defined_names, is_solution, is_test, load, nbgrader_meta  # noqa: E402,F401
from instructor.plugins import BEGIN_HIDDEN, END_HIDDEN  # noqa: E402


def graded_cells(nb) -> list:
    return [c for c in nb.cells if is_test(c)]


def exercise_functions(nb) -> list[str]:
    """Functions and classes the exercise cells define."""
    return [name for cell in nb.cells if is_solution(cell) for name in defined_names(cell.source)]


def functions_under_test(nb, test_cell) -> list[str]:
    """Exercise functions a test cell calls."""
    return [f for f in exercise_functions(nb) if re.search(rf"(?<![\w.]){f}\b", test_cell.source)]


def hidden_lines(source: str) -> list[str]:
    """The stripped lines between the hidden-test delimiters."""
    lines, inside = [], False
    for line in source.splitlines():
        if BEGIN_HIDDEN in line:
            inside = True
        elif END_HIDDEN in line:
            inside = False
        elif inside and line.strip():
            lines.append(line.strip())
    return lines


def python_source(cell_source: str) -> str:
    """Cell source with IPython syntax (%pip, !cmd) turned into plain Python."""
    return TransformerManager().transform_cell(cell_source)


@contextlib.contextmanager
def quiet() -> Iterator[None]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        yield


def run_notebook_namespace(nb) -> dict:
    """Execute every code cell except the graded test cells, the demo cells (as grading does) and
    the cells tagged skip-execution that are not solutions; return the namespace."""
    namespace: dict = {"__name__": "__main__"}
    cwd = os.getcwd()
    try:
        with quiet():
            for cell in nb.cells:
                if cell.cell_type != "code" or is_test(cell) or is_tagged_demo(cell):
                    continue
                if "skip-execution" in cell.metadata.get("tags", []) and not is_solution(cell):
                    continue
                exec(compile(python_source(cell.source), "<cell>", "exec"), namespace)
                plt.close("all")
    finally:
        os.chdir(cwd)
    return namespace


def run_cell_into(source: str, namespace: dict) -> None:
    """Execute one cell's source in ``namespace`` itself (its definitions stay there)."""
    with quiet():
        exec(compile(python_source(source), "<cell>", "exec"), namespace)


def run_cell(source: str, namespace: dict) -> None:
    """Execute one cell's source in a copy of ``namespace``; exceptions propagate."""
    with quiet():
        exec(compile(python_source(source), "<test cell>", "exec"), dict(namespace))


def page_text(path, drop_scripts: bool = True) -> str:
    """Visible text of an HTML page: tags removed, entities decoded (and, by default, comments,
    scripts and styles dropped)."""
    raw = path.read_text(encoding="utf-8")
    if drop_scripts:
        raw = re.sub(r"<!--.*?-->|<script\b.*?</script>|<style\b.*?</style>", "", raw, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", raw))
