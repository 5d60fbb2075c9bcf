"""Class exercises (a solution cell defining a class whose methods are @reference in course_lib):
a submission that simply imports course_lib's class must fail every graded cell that uses it.

tests/test_mutants.py checks this for top-level functions; this file covers the classes."""
import ast
import importlib
import pkgutil
import re

import pytest

import course_lib
from course_lib.reference import REGISTRY
from tests.notebook_tools import chapter_ids, graded_cells, is_solution, load, nbgrader_meta, run_cell, run_notebook_namespace

for _module in pkgutil.walk_packages(course_lib.__path__, "course_lib."):
    importlib.import_module(_module.name)  # registers every @reference


def _class_exercises(nb) -> dict[str, object]:
    """{class name: course_lib's class} for every class a solution cell defines and course_lib references."""
    found = {}
    for cell in nb.cells:
        if not is_solution(cell):
            continue
        for node in ast.parse(cell.source).body:
            if isinstance(node, ast.ClassDef):
                keys = [k for k in REGISTRY if k.split(".")[-2:-1] == [node.name]]
                if keys:
                    module = importlib.import_module(f"course_lib.{keys[0].split('.')[0]}")
                    found[node.name] = getattr(module, node.name)
    return found


CASES = [(ch, name, nbgrader_meta(cell)["grade_id"]) for ch in chapter_ids()
         for name in _class_exercises(load("solutions", ch))
         for cell in graded_cells(load("solutions", ch)) if re.search(rf"\b{name}\b", cell.source)]


@pytest.mark.parametrize("chapter, name, grade_id", CASES)
def test_importing_course_lib_class_fails(chapter, name, grade_id):
    nb = load("solutions", chapter)
    cell = next(c for c in graded_cells(nb) if nbgrader_meta(c)["grade_id"] == grade_id)
    namespace = run_notebook_namespace(nb)
    with pytest.raises(Exception, match="reference"):
        run_cell(cell.source, {**namespace, name: _class_exercises(nb)[name]})
