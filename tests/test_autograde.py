"""Full nbgrader round trips (slow): adversarial submissions → autograde → grades.csv → feedback.

One batch per chapter holds the solution, the blank release and every kind of submission in
instructor.selftest.KINDS (each with the score it must get); the kinds that test the pipeline
rather than the chapter (instructor.selftest.PIPELINE_KINDS) ride along in the first chapter's
batch only, so adding a chapter adds ~2 minutes, not ~4. Nothing may stop a batch, and every
student keeps the score their own work earns.
"""
import re

import nbformat
import pytest

from instructor import selftest
from instructor.autograde import autograde_chapters
from instructor.plugins import HideHiddenTests
from instructor.sandbox import sandbox_problem, unsandboxed
from tests.notebook_tools import chapter_ids, graded_cells, hidden_lines, load, page_text

pytestmark = pytest.mark.slow

CHAPTERS = chapter_ids()


def kinds_for(chapter: str) -> list[str]:
    kinds = [k for k in selftest.KINDS if k not in selftest.PIPELINE_KINDS]
    return kinds + list(selftest.PIPELINE_KINDS) if chapter == CHAPTERS[0] else kinds


@pytest.fixture(scope="module")
def graded(tmp_path_factory, request):
    """chapter → (submissions, Batch, grading dir): each chapter graded once, in one batch."""
    results = {}
    patch = pytest.MonkeyPatch()
    request.addfinalizer(patch.undo)
    patch.setenv("COURSE_CELL_TIMEOUT", "10")
    patch.setenv("COURSE_KERNEL_MEMORY", "6G")
    if sandbox_problem() and not unsandboxed():
        patch.setenv("COURSE_GRADING_UNSANDBOXED", "1")  # test_sandbox.py says why (and fails in CI)

    def grade(chapter):
        if chapter not in results:
            scratch = tmp_path_factory.mktemp(f"autograde-{chapter}")
            batch = selftest.submissions(chapter, kinds_for(chapter))
            folder = selftest.write(batch, scratch / "submissions", chapter)
            results[chapter] = (batch, autograde_chapters([chapter], folder, scratch / "grading")[0], scratch / "grading")
        return results[chapter]
    return grade


def _secrets(chapter: str) -> list[str]:
    hidden = {line for cell in graded_cells(load("solutions", chapter)) for line in hidden_lines(cell.source)}
    visible = "\n".join(c.source for c in load("chapters", chapter).cells)
    return [line for line in hidden if len(line) > 20 and line not in visible]


@pytest.mark.parametrize("chapter,kind", [(c, k) for c in CHAPTERS for k in kinds_for(c)])
def test_each_kind_of_submission_gets_its_expected_score(graded, chapter, kind):
    batch, result, _ = graded(chapter)
    assert result.scores[kind] == batch[kind].expected, f"{kind} ({batch[kind].what})"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_nothing_stops_the_batch(graded, chapter):
    batch, result, grading_dir = graded(chapter)
    assert set(result.scores) == set(batch)
    unreadable = {s for s, sub in batch.items() if isinstance(sub.notebook, bytes)}
    assert set(result.failed) == unreadable  # reported, scored 0; everyone else has a graded notebook
    for student in set(batch) - unreadable:
        assert (grading_dir / "autograded" / student / chapter / f"{chapter}.ipynb").exists()


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_feedback_never_shows_hidden_tests(graded, chapter):
    batch, result, grading_dir = graded(chapter)
    secret = _secrets(chapter)
    assert secret, "the chapter should have hidden-test lines to look for"
    for student in set(batch) - set(result.failed):
        page = page_text(drop_scripts=False, path=grading_dir / "feedback" / student / chapter / f"{chapter}.html")
        own = "\n".join(c.source for c in batch[student].notebook.cells)  # a student may write the same line
        squashed = re.sub(r"\s+", "", page)
        leaked = [line for line in secret if line not in own and (line in page or re.sub(r"\s+", "", line) in squashed)]
        assert not leaked, f"feedback for {student} shows hidden tests: {leaked[:3]}"


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_feedback_errors_in_test_cells_are_one_line(graded, chapter):
    batch, result, grading_dir = graded(chapter)
    for student in set(batch) - set(result.failed):
        nb = nbformat.read(grading_dir / "autograded" / student / chapter / f"{chapter}.ipynb", as_version=4)
        nb, _ = HideHiddenTests().preprocess(nb, {})  # what generate_feedback shows
        for cell in graded_cells(nb):
            for output in cell.outputs:
                if output.output_type == "error":
                    assert len(output.traceback) == 2 and len(output.evalue) <= 402, (student, output.traceback)


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_failing_hidden_tests_say_what_was_checked(graded, chapter):
    _, _, grading_dir = graded(chapter)
    page = page_text(drop_scripts=False, path=grading_dir / "feedback" / "wrong-device" / chapter / f"{chapter}.html")
    failing = sum("meta" in src.split(selftest.BEGIN_HIDDEN, 1)[-1] for src in selftest.Chapter(chapter).tests.values())
    assert page.count("(in the hidden tests)") >= 1 and "device" in page
    assert page.count("(traceback hidden; the message above says what was checked)") >= failing


def test_huge_outputs_are_capped(graded):
    _, _, grading_dir = graded(CHAPTERS[0])
    notebook = grading_dir / "autograded" / "prints-megabytes" / CHAPTERS[0] / f"{CHAPTERS[0]}.ipynb"
    page = grading_dir / "feedback" / "prints-megabytes" / CHAPTERS[0] / f"{CHAPTERS[0]}.html"
    assert notebook.stat().st_size < 2_000_000 and page.stat().st_size < 3_000_000
    printed = "".join(o.get("text", "") for c in nbformat.read(notebook, as_version=4).cells if c.cell_type == "code"
                      for o in c.outputs if "xxxxxxxxxx" in o.get("text", "") or "discarded" in o.get("text", ""))
    assert "xxxxxxxxxx" in printed and "Output truncated" in printed and "discarded" in printed


def test_suspicious_code_is_listed_for_review(graded):
    _, _, grading_dir = graded(CHAPTERS[0])
    review = (grading_dir / "review.csv").read_text()
    for student in ("monkeypatch-torch", "monkeypatch-grading", "leaks-hidden"):
        assert f",{student}," in review
    for student in ("solution", "blank", "colab"):
        assert f",{student}," not in review
