"""Full nbgrader round trip (slow): release → submissions → autograde → grades.csv → feedback.

One batch per chapter holds the solution, the untouched release and adversarial submissions;
each must get its expected score and none may stop the batch.
"""
import copy
import html
import re

import nbformat
import pytest

from instructor.autograde import autograde
from tests.notebook_tools import chapter_ids, graded_cells, hidden_lines, is_solution, load, nbgrader_meta

pytestmark = pytest.mark.slow


def _points(nb) -> dict[str, float]:
    return {nbgrader_meta(c)["grade_id"]: nbgrader_meta(c)["points"] for c in graded_cells(nb)}


def _solved(chapter: str) -> nbformat.NotebookNode:
    """The release with every exercise cell filled in with the solution's code."""
    solutions = {nbgrader_meta(c)["grade_id"]: c.source for c in load("solutions", chapter).cells if is_solution(c)}
    nb = load("chapters", chapter)
    for cell in nb.cells:
        if is_solution(cell):
            cell.source = solutions[nbgrader_meta(cell)["grade_id"]]
    return nb


def _submissions(chapter: str) -> dict[str, tuple[nbformat.NotebookNode, float]]:
    """student id → (notebook, expected score)."""
    release, solved = load("chapters", chapter), _solved(chapter)
    points = _points(load("solutions", chapter))
    total = sum(points.values())
    first_exercise = next(c for c in solved.cells if is_solution(c))
    first_tests = [g for g in points if g.startswith("test_" + nbgrader_meta(first_exercise)["grade_id"])]

    skip_tags = copy.deepcopy(release)  # tags are outside nbgrader's checksum: the exploit
    for cell in graded_cells(skip_tags):
        cell.metadata["tags"] = ["skip-execution", "raises-exception", "nbval-skip"]
    edited = copy.deepcopy(release)
    for cell in graded_cells(edited):
        cell.source = "print('all tests passed')"
    deleted = copy.deepcopy(solved)
    deleted.cells = [c for c in deleted.cells if c not in graded_cells(deleted)]
    loop = copy.deepcopy(solved)
    next(c for c in loop.cells if is_solution(c)).source = "while True:\n    pass"
    cheat = copy.deepcopy(solved)
    for cell in cheat.cells:
        if is_solution(cell):
            cell.source = "\n".join(f"from course_lib.{m} import {n}" for m, n in _references(cell.source))
    return {
        "solution": (solved, total),
        "blank": (release, 0),
        "skip-tags": (skip_tags, 0),
        "edited-tests": (edited, 0),
        "deleted-tests": (deleted, total),
        "infinite-loop": (loop, total - sum(points[g] for g in first_tests)),
        "calls-reference": (cheat, 0),
    }


def _references(source: str) -> list[tuple[str, str]]:
    from course_lib.reference import REGISTRY
    names = re.findall(r"^def (\w+)", source, flags=re.M)
    return [tuple(key.rsplit(".", 1)) for key in REGISTRY if key.rsplit(".", 1)[1] in names]


def _text(path) -> str:
    """Visible text of an HTML page (tags removed, entities decoded)."""
    return html.unescape(re.sub(r"<[^>]+>", "", path.read_text(encoding="utf-8")))


@pytest.mark.parametrize("chapter", chapter_ids())
def test_round_trip_scores_every_kind_of_submission(chapter, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_CELL_TIMEOUT", "20")
    submissions = _submissions(chapter)
    folder = tmp_path / "submissions"
    for student, (nb, _) in submissions.items():
        (folder / student).mkdir(parents=True)
        nbformat.write(nb, folder / student / f"{chapter}.ipynb")

    scores = autograde(chapter, folder, tmp_path / "grading")

    assert scores == {student: expected for student, (_, expected) in submissions.items()}
    hidden = {line for cell in graded_cells(load("solutions", chapter)) for line in hidden_lines(cell.source)}
    visible = "\n".join(c.source for c in load("chapters", chapter).cells)
    secret = [line for line in hidden if len(line) > 20 and line not in visible]
    assert secret, "the chapter should have hidden-test lines to look for"
    for student in submissions:
        page = _text(tmp_path / "grading" / "feedback" / student / chapter / f"{chapter}.html")
        leaked = [line for line in secret if line in page]
        assert not leaked, f"feedback for {student} shows hidden tests: {leaked[:3]}"
