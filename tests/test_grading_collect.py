"""Collecting submissions as an LMS exports them, and the instructor workflow end to end.

Unit tests check the file-name presets (instructor.collect.LMS_PRESETS) and the fixes for the
names Colab and Canvas produce; the slow test takes a Blackboard-style zip (two attempts for
one student, a Colab download for another) through `python -m instructor.autograde all ZIP`:
nbgrader zip_collect, one autograde batch, grades.csv, feedback HTML.
"""

import csv
import zipfile

import nbformat
import pytest

from instructor import batches, kinds
from instructor.autograde import main
from instructor.collect import LMS_PRESETS, CourseCollector, detect_preset, find_submissions
from instructor.sandbox import sandbox_problem, unsandboxed
from tests.notebook_tools import ROOT

CHAPTER = kinds.TEMPLATE_CHAPTER  # the pipeline is tested on the template chapter
NOTEBOOK = f"{CHAPTER}.ipynb"


def _collector(preset: str) -> CourseCollector:
    return CourseCollector(named_regexp=preset, release_directory=str(ROOT / "chapters" / CHAPTER))


@pytest.mark.parametrize(
    "preset,path,student,timestamp",
    [
        (
            "attempt",
            f"/x/extracted/{CHAPTER}_jdoe_attempt_2024-03-01-10-22-33_{NOTEBOOK}",
            "jdoe",
            "2024-03-01 10:22:33",
        ),
        ("attempt", f"/x/doe_s123456_attempt_2024-03-02-08-00-00_{NOTEBOOK}", "s123456", "2024-03-02 08:00:00"),
        ("canvas", f"/x/doejane_12345_678901_{NOTEBOOK}", "12345", None),
        ("canvas", f"/x/doejane_late_12345_678901_{CHAPTER}-1.ipynb", "12345", None),
        ("moodle", f"/x/Jane Doe_4242_assignsubmission_file_/{NOTEBOOK}", "4242", None),
        ("moodle", f"/x/Jane Doe_4242_assignsubmission_file_Copy of {NOTEBOOK}", "4242", None),
    ],
)
def test_lms_file_names_give_student_and_notebook(preset, path, student, timestamp):
    info = _collector(preset).collect(path)
    assert info["student_id"] == student and info["file_id"] == NOTEBOOK
    assert info.get("timestamp") == timestamp


def test_a_custom_regexp_and_files_that_do_not_match():
    collector = _collector(r"(?P<student_id>[a-z]+)-(?P<file_id>.+\.ipynb)")
    assert collector.collect(f"/x/alice-{NOTEBOOK}")["student_id"] == "alice"
    assert collector.collect(f"/x/ALICE_{NOTEBOOK}") is None
    assert collector.collect("/x/alice-notes.txt") is None


def test_zip_naming_is_recognised(tmp_path):
    lms = tmp_path / "lms.zip"
    with zipfile.ZipFile(lms, "w") as archive:
        archive.writestr(f"{CHAPTER}_jdoe_attempt_2024-03-01-10-22-33_{NOTEBOOK}", "{}")
    folders = tmp_path / "folders.zip"
    with zipfile.ZipFile(folders, "w") as archive:
        archive.writestr(f"jdoe/{NOTEBOOK}", "{}")
    assert detect_preset(lms) == "attempt" and detect_preset(folders) is None
    assert set(LMS_PRESETS) == {"attempt", "canvas", "moodle"}


def test_per_student_layouts(tmp_path):
    for path in (f"a/{NOTEBOOK}", f"b/{CHAPTER}/{NOTEBOOK}", "c/colab download.ipynb", "d.ipynb"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text("{}")
    assert set(find_submissions(tmp_path, CHAPTER)) == {"a", "b", "c", "d"}


@pytest.mark.slow
def test_instructor_workflow_from_an_lms_zip(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CELL_TIMEOUT", "10")
    if sandbox_problem() and not unsandboxed():
        monkeypatch.setenv("COURSE_GRADING_UNSANDBOXED", "1")  # test_sandbox.py reports the missing sandbox
    built = batches.submissions(CHAPTER, ["solution", "blank", "colab"])
    archive = tmp_path / "gradebook-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:  # Blackboard naming; jdoe's second attempt is the solution
        zf.writestr(f"{CHAPTER}_jdoe_attempt_2024-03-01-10-00-00_{NOTEBOOK}", nbformat.writes(built["blank"].notebook))
        zf.writestr(
            f"{CHAPTER}_jdoe_attempt_2024-03-02-09-30-00_{NOTEBOOK}", nbformat.writes(built["solution"].notebook)
        )
        zf.writestr(
            f"{CHAPTER}_asmith_attempt_2024-03-01-23-59-00_Copy of {NOTEBOOK}", nbformat.writes(built["colab"].notebook)
        )
        zf.writestr(f"{CHAPTER}_jdoe_attempt_2024-03-02-09-30-00_notes.txt", "not a notebook")

    assert main(["all", str(archive), "--grading-dir", str(tmp_path / "grading")]) == 0

    total = built["solution"].expected
    with open(tmp_path / "grading" / "grades.csv", newline="") as handle:
        rows = {r["student_id"]: r for r in csv.DictReader(handle)}
    assert {s: float(r["raw_score"]) for s, r in rows.items()} == {"asmith": total, "jdoe": total}
    assert rows["jdoe"]["timestamp"].startswith("2024-03-02 09:30:00")
    for student in rows:
        assert (tmp_path / "grading" / "feedback" / student / CHAPTER / f"{CHAPTER}.html").exists()
    out = capsys.readouterr().out
    assert "grades:" in out and "jdoe" in out
