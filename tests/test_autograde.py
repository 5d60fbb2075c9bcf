"""Full nbgrader round trips (slow): submissions → autograde → grades.csv → feedback → class report.

Sized to scale with the number of chapters (DEVELOPERS: CI ≤ 45 min with ten chapters):
- per chapter, ONE batch with what depends on the chapter: the solution, the blank release,
  course_lib's reference imported, tensors created on the wrong device (instructor.kinds.
  CHAPTER_KINDS) and every registered common mistake, packed one mistake per exercise into as few
  submissions as the most-mistaken exercise needs (batches.mistake_submissions);
- once, on the template chapter, ONE batch with what tests the pipeline itself (kinds.
  PIPELINE_KINDS: timeouts, dead kernels, tampering, Colab metadata, 25 MB of prints, ...).
Each batch is its own test class (generated below, one per chapter), hence its own xdist scope
under `--dist loadscope`: the batches spread over the workers, each graded once by its worker.
Nothing may stop a batch, every student keeps the score their own work earns, and the mistakes
the feedback names are exactly those the same code names in-process.
"""

import csv
import re
from functools import lru_cache

import nbformat
import pytest

from course_lib import mistakes
from instructor import batches, builders, kinds
from instructor.autograde import autograde_chapters
from instructor.plugins import BEGIN_HIDDEN, HideHiddenTests
from instructor.sandbox import sandbox_problem, unsandboxed
from tests.in_process import run_graded_in, with_exercise_cells
from tests.notebook_tools import chapter_ids, graded_cells, hidden_lines, load, nbgrader_meta, page_text

pytestmark = pytest.mark.slow

CHAPTERS = chapter_ids()
PIPELINE = "pipeline"
BATCHES = CHAPTERS + [PIPELINE]


def chapter_of(batch: str) -> str:
    return kinds.TEMPLATE_CHAPTER if batch == PIPELINE else batch


@lru_cache(maxsize=None)
def submissions(batch: str) -> dict:
    """student id -> Submission (mistake submissions with the score computed in-process)."""
    if batch == PIPELINE:
        return batches.submissions(chapter_of(batch), list(kinds.PIPELINE_KINDS))
    built = batches.submissions(batch, list(kinds.CHAPTER_KINDS))
    for student, (submission, _chosen) in mistake_batch(batch).items():
        submission.expected = sum(nbgrader_meta(c)["points"] for c, (passed, _) in in_process(batch, student) if passed)
        built[student] = submission
    return built


@lru_cache(maxsize=None)
def mistake_batch(chapter: str) -> dict:
    return batches.mistake_submissions(chapter)


@lru_cache(maxsize=None)
def in_process(chapter: str, student: str) -> list:
    """[(graded cell, (passed, first named mistake key or None))] for a mistake submission, run in-process."""
    submission, _ = mistake_batch(chapter)[student]
    namespace = with_exercise_cells(chapter, submission.notebook.cells)  # mistakes appended, in order
    verdicts = []
    for cell in graded_cells(load("solutions", chapter)):  # in one namespace, in order, as in the kernel
        err = run_graded_in(cell, namespace)
        named = mistakes.named_in(str(err)) if err is not None else []
        verdicts.append((cell, (err is None, named[0] if named else None)))
    return verdicts


@pytest.fixture(scope="module")
def graded(tmp_path_factory, request):
    """batch -> (submissions, Batch, grading dir): each batch graded once, by the worker that runs its group."""
    results = {}
    patch = pytest.MonkeyPatch()
    request.addfinalizer(patch.undo)
    patch.setenv("COURSE_CELL_TIMEOUT", "10")
    patch.setenv("COURSE_KERNEL_MEMORY", "6G")
    if sandbox_problem() and not unsandboxed():
        patch.setenv("COURSE_GRADING_UNSANDBOXED", "1")  # test_sandbox.py says why (and fails in CI)

    def grade(batch):
        if batch not in results:
            scratch = tmp_path_factory.mktemp(f"autograde-{batch}")
            chapter = chapter_of(batch)
            folder = batches.write(submissions(batch), scratch / "submissions", chapter)
            results[batch] = (
                submissions(batch),
                autograde_chapters([chapter], folder, scratch / "grading")[0],
                scratch / "grading",
            )
        return results[batch]

    return grade


def _secrets(chapter: str) -> list[str]:
    hidden = {line for cell in graded_cells(load("solutions", chapter)) for line in hidden_lines(cell.source)}
    visible = "\n".join(c.source for c in load("chapters", chapter).cells)
    return [line for line in hidden if len(line) > 20 and line not in visible]


def _feedback(grading_dir, student, chapter) -> str:
    return page_text(drop_scripts=False, path=grading_dir / "feedback" / student / chapter / f"{chapter}.html")


class ChapterBatch:
    """Tests of one chapter's batch: its own kinds and its common mistakes. One subclass per chapter."""

    batch: str

    @pytest.mark.parametrize("kind", kinds.CHAPTER_KINDS)
    def test_each_kind_of_submission_gets_its_expected_score(self, graded, kind):
        built, result, _ = graded(self.batch)
        assert result.scores[kind] == built[kind].expected, f"{kind} ({built[kind].what})"

    def test_common_mistakes_are_graded_and_named_as_in_process(self, graded, student):
        """Each graded cell passes or fails as it does in-process, and the feedback names the same mistake."""
        chapter = self.batch
        built, result, grading_dir = graded(chapter)
        assert result.scores[student] == built[student].expected, built[student].what
        nb = nbformat.read(grading_dir / "autograded" / student / chapter / f"{chapter}.ipynb", as_version=4)
        autograded = {nbgrader_meta(c)["grade_id"]: c for c in graded_cells(nb)}
        page = _feedback(grading_dir, student, chapter)
        for cell, (passed, named) in in_process(chapter, student):
            errors = [o for o in autograded[nbgrader_meta(cell)["grade_id"]].outputs if o.output_type == "error"]
            assert passed == (not errors), f"{nbgrader_meta(cell)['grade_id']}: nbgrader and in-process disagree"
            if named:
                mistake = mistakes.by_key(named)
                assert mistake.tag in page, f"feedback does not name {named}"
                assert mistake.explanation in page and mistake.hint in page
        with open(grading_dir / "mistakes.csv", newline="") as handle:
            rows = {(r["exercise"], r["mistake"]) for r in csv.DictReader(handle) if r["student"] == student}
        expected = {
            (nbgrader_meta(c)["grade_id"], named.split(":", 1)[1])
            for c, (_, named) in in_process(chapter, student)
            if named
        }
        assert rows == expected

    def test_every_registered_mistake_is_graded_in_the_batch(self):
        graded_ids = {m.id for _, chosen in mistake_batch(self.batch).values() for m in chosen.values()}
        assert graded_ids == {m.id for m in mistakes.for_chapter(self.batch)}

    def test_class_report_has_the_figures(self, graded):
        _, _, grading_dir = graded(self.batch)
        report = (grading_dir / "report.html").read_text()
        assert report.count("data:image/png;base64,") >= 2, "score and mistake figures"
        assert f"<h2>{self.batch}</h2>" in report

    def test_failing_hidden_tests_say_what_was_checked(self, graded):
        chapter = self.batch
        _, _, grading_dir = graded(chapter)
        page = _feedback(grading_dir, "wrong-device", chapter)
        failing = sum(
            builders.uses_meta_device(src.split(BEGIN_HIDDEN, 1)[-1]) for src in kinds.Chapter(chapter).tests.values()
        )
        if failing:  # a chapter without device checks gives the wrong-device submission full marks
            assert page.count("(in the hidden tests)") >= 1 and "device" in page
        assert page.count("(traceback hidden; the message above says what was checked)") >= failing

    def test_correct_work_is_not_flagged_for_review(self, graded):
        _, _, grading_dir = graded(self.batch)
        review = (grading_dir / "review.csv").read_text()
        for student in ("solution", "blank"):
            assert f",{student}," not in review


class AnyBatch:
    """What holds for every batch, chapter or pipeline."""

    batch: str

    def test_nothing_stops_the_batch(self, graded):
        built, result, grading_dir = graded(self.batch)
        chapter = chapter_of(self.batch)
        assert set(result.scores) == set(built)
        unreadable = {s for s, sub in built.items() if isinstance(sub.notebook, bytes)}
        assert set(result.failed) == unreadable  # reported, scored 0; everyone else has a graded notebook
        for student in set(built) - unreadable:
            assert (grading_dir / "autograded" / student / chapter / f"{chapter}.ipynb").exists()

    def test_feedback_never_shows_hidden_tests(self, graded):
        built, result, grading_dir = graded(self.batch)
        chapter = chapter_of(self.batch)
        secret = _secrets(chapter)
        assert secret, "the chapter should have hidden-test lines to look for"
        for student in set(built) - set(result.failed):
            page = _feedback(grading_dir, student, chapter)
            own = "\n".join(c.source for c in built[student].notebook.cells)  # a student may write the same line
            squashed = re.sub(r"\s+", "", page)
            leaked = [
                line for line in secret if line not in own and (line in page or re.sub(r"\s+", "", line) in squashed)
            ]
            assert not leaked, f"feedback for {student} shows hidden tests: {leaked[:3]}"

    def test_feedback_errors_in_test_cells_are_one_line(self, graded):
        built, result, grading_dir = graded(self.batch)
        chapter = chapter_of(self.batch)
        for student in set(built) - set(result.failed):
            nb = nbformat.read(grading_dir / "autograded" / student / chapter / f"{chapter}.ipynb", as_version=4)
            nb, _ = HideHiddenTests().preprocess(nb, {})  # what generate_feedback shows
            for cell in graded_cells(nb):
                for output in cell.outputs:
                    if output.output_type == "error":
                        assert len(output.traceback) == 2 and len(output.evalue) <= HideHiddenTests().max_message + 2, (
                            student,
                            output.traceback,
                        )


class PipelineBatch:
    """The kinds that test the pipeline, graded once on the template chapter."""

    batch = PIPELINE

    @pytest.mark.parametrize("kind", kinds.PIPELINE_KINDS)
    def test_each_kind_of_submission_gets_its_expected_score(self, graded, kind):
        built, result, _ = graded(self.batch)
        assert result.scores[kind] == built[kind].expected, f"{kind} ({built[kind].what})"

    def test_huge_outputs_are_capped(self, graded):
        _, _, grading_dir = graded(self.batch)
        chapter = chapter_of(self.batch)
        notebook = grading_dir / "autograded" / "prints-megabytes" / chapter / f"{chapter}.ipynb"
        page = grading_dir / "feedback" / "prints-megabytes" / chapter / f"{chapter}.html"
        assert notebook.stat().st_size < 2_000_000 and page.stat().st_size < 3_000_000
        printed = "".join(
            o.get("text", "")
            for c in nbformat.read(notebook, as_version=4).cells
            if c.cell_type == "code"
            for o in c.outputs
            if "xxxxxxxxxx" in o.get("text", "") or "discarded" in o.get("text", "")
        )
        assert "xxxxxxxxxx" in printed and "Output truncated" in printed and "discarded" in printed

    def test_suspicious_code_is_listed_for_review(self, graded):
        _, _, grading_dir = graded(self.batch)
        review = (grading_dir / "review.csv").read_text()
        for student in ("monkeypatch-torch", "monkeypatch-grading", "leaks-hidden"):
            assert f",{student}," in review
        assert ",colab," not in review


def pytest_generate_tests(metafunc):
    if "student" in metafunc.fixturenames:
        metafunc.parametrize("student", list(mistake_batch(metafunc.cls.batch)))


# One test class per batch: pytest collects them by name, xdist schedules each as one unit.
for _chapter in CHAPTERS:
    globals()[f"TestChapter_{_chapter}"] = type(
        f"TestChapter_{_chapter}", (ChapterBatch, AnyBatch), {"batch": _chapter}
    )
TestPipeline = type("TestPipeline", (PipelineBatch, AnyBatch), {})
