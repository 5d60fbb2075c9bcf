"""Every chapter notebook follows the template (DESIGN §3): checked for all chapters in solutions/."""

import ast
import importlib
import inspect
import pkgutil
import re

import pytest
import yaml

import course_lib
from course_lib.reference import REGISTRY
from tests.notebook_tools import (
    ROOT,
    chapter_ids,
    defined_functions,
    exercise_functions,
    graded_cells,
    hidden_lines,
    is_solution,
    load,
    nbgrader_meta,
)

for _module in pkgutil.walk_packages(course_lib.__path__, "course_lib."):
    importlib.import_module(_module.name)  # registers every @reference

CHAPTERS = chapter_ids()
SETUP_LINES = [
    "import sys",
    'if "google.colab" in sys.modules:',
    "import course_lib",
    "device = course_lib.get_device()",
    "course_lib.seed_everything(0)",
]


def test_there_is_at_least_one_chapter():
    assert CHAPTERS, "solutions/ holds no NN_slug/NN_slug.ipynb"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_setup_cell_is_the_shared_one(chapter):
    first_code = next(c for c in load("solutions", chapter).cells if c.cell_type == "code")
    reference = next(c for c in load("solutions", CHAPTERS[0]).cells if c.cell_type == "code")
    assert first_code.source == reference.source, "the setup cell must be identical in every chapter"
    lines = [line.strip() for line in first_code.source.splitlines()]
    for line in SETUP_LINES:
        assert any(got.startswith(line) for got in lines), f"setup cell lacks {line!r}"
    install = next(line for line in lines if line.startswith("%pip install"))
    url = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]["url"]
    assert f"git+{url}" in install, "the Colab install must use _config.yml's repository.url"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_points_and_cells(chapter):
    nb = load("solutions", chapter)
    tests = graded_cells(nb)
    points = sum(nbgrader_meta(c)["points"] for c in tests)
    assert 2 <= len([c for c in nb.cells if is_solution(c)]) <= 4, "a chapter has 2–4 exercises"
    assert 6 <= points <= 14, f"a chapter is worth about 10 points; got {points}"
    ids = [nbgrader_meta(c)["grade_id"] for c in nb.cells if nbgrader_meta(c)]
    assert len(ids) == len(set(ids)), "grade_ids must be unique"
    for cell in tests:
        assert nbgrader_meta(cell)["locked"], "test cells are locked"
        assert len(hidden_lines(cell.source)) >= 3, f"{nbgrader_meta(cell)['grade_id']} has no real hidden tests"
        assert "grading." in "\n".join(hidden_lines(cell.source)), "hidden tests call the grading helpers"
        visible = cell.source.split("### BEGIN HIDDEN TESTS")[0]
        assert re.search(r"\bassert |grading\.(assert_close|assert_shape|check)\(", visible), (
            "visible checks come first"
        )
    for cell in nb.cells:
        if nbgrader_meta(cell).get("solution") or cell in tests:
            assert "skip-execution" in cell.metadata.get("tags", []), "exercise cells are skipped on the site"


def _signature_and_doc(source: str, name: str) -> tuple[str, str]:
    node = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef) and n.name == name)
    returns = ast.unparse(node.returns) if node.returns else ""
    # The words of the docstring, not its line breaks: a notebook wraps at 88 columns, course_lib at 120.
    return f"{name}({ast.unparse(node.args)}) -> {returns}", " ".join((ast.get_docstring(node) or "").split())


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_exercise_signatures_and_docstrings_are_course_libs(chapter):
    nb = load("solutions", chapter)
    for cell in nb.cells:
        if not is_solution(cell):
            continue
        for name in defined_functions(cell.source):
            matches = [key for key in REGISTRY if key.split(".")[-1] == name]
            assert len(matches) == 1, f"{name} must be a @reference in exactly one course_lib module; found {matches}"
            module = importlib.import_module(f"course_lib.{matches[0].rsplit('.', 1)[0]}")
            assert _signature_and_doc(cell.source, name) == _signature_and_doc(inspect.getsource(module), name)


def test_toc_lists_every_chapter_in_order():
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [entry["file"] for part in toc["parts"] for entry in part["chapters"]]
    chapters = [f for f in files if f.startswith("chapters/")]
    assert chapters == [f"chapters/{c}/{c}" for c in CHAPTERS]


def _public_text(nb) -> str:
    """The source outside hidden-test and solution regions (what a release shows), line by line."""
    public, hidden = set(), False
    for cell in nb.cells:
        for line in cell.source.splitlines():
            if "### BEGIN HIDDEN TESTS" in line or "### BEGIN SOLUTION" in line:
                hidden = True
            elif "### END HIDDEN TESTS" in line or "### END SOLUTION" in line:
                hidden = False
            elif not hidden:
                public.add(line.strip())
        hidden = False
    return "\n".join(sorted(public))


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_release_has_no_solution_or_hidden_test(chapter):
    source, release = load("solutions", chapter), load("chapters", chapter)
    text = "\n".join(c.source for c in release.cells)
    assert "BEGIN SOLUTION" not in text and "BEGIN HIDDEN TESTS" not in text
    public = _public_text(source)  # a hidden line that the release shows anyway is no secret
    for cell in graded_cells(source):
        for line in hidden_lines(cell.source):
            if len(line) > 25 and line not in public:
                assert line not in text, f"hidden test line leaked into the release: {line}"
    for name in exercise_functions(release):
        assert name in exercise_functions(source)
