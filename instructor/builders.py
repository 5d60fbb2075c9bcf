"""What the submission kinds (instructor/kinds.py) and attacks (instructor/attacks.py) are built
from: a chapter's cells and points, and ways to change a student's cells."""

from __future__ import annotations

import ast
import copy
import re
import textwrap
from dataclasses import dataclass

import nbformat

from .notebooks import defined_functions, defined_names, is_solution, is_test, load, nbgrader_meta

DEVICE_CHECK = "check_meta_device"  # course_lib.grading's device check


@dataclass
class Submission:
    """One student's file and the score the grading must give it."""

    notebook: nbformat.NotebookNode | bytes
    expected: float
    what: str


# --------------------------------------------------------------------------- reading a chapter


class Chapter:
    """What the builders need to know about one chapter: cells, points, who tests what."""

    def __init__(self, chapter: str):
        self.id = chapter
        self.source, self.release = load("solutions", chapter), load("chapters", chapter)
        self.points = {
            nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"]) for c in self.source.cells if is_test(c)
        }
        self.total = sum(self.points.values())
        self.solutions = {nbgrader_meta(c)["grade_id"]: c.source for c in self.source.cells if is_solution(c)}
        self.tests = {nbgrader_meta(c)["grade_id"]: c.source for c in self.source.cells if is_test(c)}

    def solved(self) -> nbformat.NotebookNode:
        """The release with every exercise cell filled in with the solution's code."""
        nb = copy.deepcopy(self.release)
        for cell in nb.cells:
            if is_solution(cell):
                cell.source = self.solutions[nbgrader_meta(cell)["grade_id"]]
        return nb

    def first_exercise(self, nb) -> nbformat.NotebookNode:
        return next(c for c in nb.cells if is_solution(c))

    def points_testing(self, functions: list[str]) -> float:
        """Points of the test cells that call any of ``functions``."""
        return sum(
            self.points[g]
            for g, src in self.tests.items()
            if any(re.search(rf"(?<![\w.]){f}\b", src) for f in functions)
        )

    def points_before(self, nb, index: int) -> float:
        """Points of the test cells above cell ``index``."""
        return sum(self.points[nbgrader_meta(c)["grade_id"]] for c in nb.cells[:index] if is_test(c))

    def points_on_meta_device(self) -> float:
        """Points of the test cells that run code on the meta device (see ``uses_meta_device``)."""
        return sum(self.points[g] for g, src in self.tests.items() if uses_meta_device(src))


def uses_meta_device(source: str) -> bool:
    """Whether a cell runs code on the meta device: it calls course_lib.grading.check_meta_device,
    or passes the device "meta" to a call (``torch.device("meta")``, ``.to("meta")``,
    ``device="meta"``). Read from the code's syntax tree: comments, messages and comparisons
    that mention the word do not count."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) == DEVICE_CHECK:
            return True
        arguments = list(node.args) + [k.value for k in node.keywords]
        if any(isinstance(a, ast.Constant) and a.value == "meta" for a in arguments):
            return True
    return False


# --------------------------------------------------------------------------- wrapping student functions

WRAP = """
_selftest_original_{name} = {name}
def {name}(*args, **kwargs):
    out = _selftest_original_{name}(*args, **kwargs)
    {body}
"""
TRANSFORMS = {
    "nan": "return torch.full_like(out, float('nan')) if isinstance(out, torch.Tensor) and out.is_floating_point() "
    "else (float('nan') if isinstance(out, float) else out)",
    "wrong": "return (~out if out.dtype == torch.bool else out + 1) if isinstance(out, torch.Tensor) "
    "else (out + 1000.0 if isinstance(out, float) else out)",
    # a 0-d CPU tensor mixes with any device (torch treats it as a scalar), so a 0-d result gets a (1,) one
    "cpu": "return ((out.reshape(1) + torch.zeros(1, dtype=out.dtype)).reshape(()) if out.dim() == 0 "
    "else out + torch.zeros(out.shape, dtype=out.dtype)) if isinstance(out, torch.Tensor) else out",
    "raises": "raise ValueError('a bug in the student code')",
}


WRAP_CLASS = """
_selftest_original_{name} = {name}
class {name}(_selftest_original_{name}):
    def forward(self, *args, **kwargs):
        out = super().forward(*args, **kwargs)
        {body}
"""


def wrap(cell, transform: str) -> None:
    """Append to a solution cell a wrapper that post-processes the result of each function (and of
    each class's forward); each element of a tuple result, such as an RNN's (outputs, h_T)."""
    body = TRANSFORMS[transform]
    if body.startswith("return "):
        body = (
            f"_selftest_t = lambda out: {body[len('return ') :]}\n"
            "    return tuple(map(_selftest_t, out)) if isinstance(out, tuple) else _selftest_t(out)"
        )
    classes = set(defined_names(cell.source)) - set(defined_functions(cell.source))
    for name in defined_names(cell.source):
        if name in classes:
            cell.source += "\n" + WRAP_CLASS.format(name=name, body=body.replace("\n    ", "\n        "))
        else:
            cell.source += "\n" + WRAP.format(name=name, body=body)


def code(source: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_code_cell(textwrap.dedent(source).strip())


def after_setup(nb, cell) -> None:
    """Insert a student cell right after the setup cell (the first code cell)."""
    index = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
    nb.cells.insert(index + 1, cell)
