"""The coordinator records a chapter as soon as its last submission is back from the workers,
while the pool goes on with the other chapters (instructor/workers.py's ``on_chapter_done``).

No nbgrader here: an in-process Dask cluster runs a stand-in for ``workers.grade`` that holds
chapter B's tasks until chapter A has been reported done, so the test fails if A is reported only
when the whole pool has finished."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

pytest.importorskip("distributed", reason="grading on workers needs the [instructor] extra (Dask)")

from instructor import workers  # noqa: E402

A_DONE = threading.Event()


def _fake_grade(task: workers.Task, gradebook: bytes) -> workers.Graded:
    if task.chapter == "bb_chapter":
        assert A_DONE.wait(timeout=10), "chapter aa_chapter was not reported before the pool ended"
    return workers.Graded(task.chapter, task.student, b"{}", "log", 0.0, "test:0", b"<html>")


def _submit(grading_dir: Path, chapter: str, students: list[str]) -> None:
    for student in students:
        folder = grading_dir / "submitted" / student / chapter
        folder.mkdir(parents=True)
        (folder / f"{chapter}.ipynb").write_text("{}")


def test_each_chapter_is_reported_once_as_soon_as_it_is_done(tmp_path, monkeypatch):
    from dask.distributed import LocalCluster

    _submit(tmp_path, "aa_chapter", ["s1", "s2", "s3"])
    _submit(tmp_path, "bb_chapter", ["s1", "s2"])
    _submit(tmp_path, "cc_chapter", ["s1"])
    workers.store(tmp_path, None, "cc_chapter", "s1", why="graded by an earlier run")  # nothing left
    monkeypatch.setattr(workers, "grade", _fake_grade)
    monkeypatch.setattr(workers, "template_gradebook", lambda grading_dir, chapter: b"")
    reported = []

    def done(chapter: str) -> None:
        reported.append(chapter)
        A_DONE.set() if chapter == "aa_chapter" else None

    A_DONE.clear()
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        graded = workers.grade_on_workers(
            tmp_path,
            ["aa_chapter", "bb_chapter", "cc_chapter"],
            scheduler=cluster.scheduler_address,
            log=lambda message: None,
            on_chapter_done=done,
        )
    assert graded == {"aa_chapter": 3, "bb_chapter": 2, "cc_chapter": 0}
    assert reported == ["cc_chapter", "aa_chapter", "bb_chapter"]
    for student in ("s1", "s2"):  # graded, not the placeholder of a task that failed
        stored = workers.results_dir(tmp_path) / student / "bb_chapter" / "bb_chapter.ipynb"
        assert stored.read_text() == "{}"


def test_feedback_pages_written_on_workers_are_published_or_regenerated(tmp_path):
    _submit(tmp_path, "aa_chapter", ["s1", "s2"])
    for student in ("s1", "s2"):
        page = f"<html>{student}</html>".encode()
        graded = workers.Graded("aa_chapter", student, b"{}", "log", 0.0, "test:0", page)
        workers.store(tmp_path, graded, "aa_chapter", student)
        (tmp_path / "autograded" / student / "aa_chapter").mkdir(parents=True)  # recorded
        (tmp_path / "autograded" / student / "aa_chapter" / "aa_chapter.ipynb").write_text("{}")
    assert workers.publish_feedback(tmp_path, "aa_chapter")
    for student in ("s1", "s2"):
        published = tmp_path / "feedback" / student / "aa_chapter" / "aa_chapter.html"
        assert published.read_text() == f"<html>{student}</html>"
    # s2 resubmits and is graded by a run without feedback: its old page must not be published
    workers.store(tmp_path, workers.Graded("aa_chapter", "s2", b"{}", "log", 0.0, "test:0"), "aa_chapter", "s2")
    assert not workers.publish_feedback(tmp_path, "aa_chapter"), "s2 has no page: nbgrader must make them"
