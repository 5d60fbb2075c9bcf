"""Grading on Dask workers gives what serial grading gives, loses nothing and grades nothing twice (slow).

One batch of two chapters (solutions, blanks, named mistakes, adversarial kinds: a dead kernel, a
file that is not a notebook, tampered metadata, test cells given demo cells' ids, ...) is graded serially and on
two workers; grades.csv, mistakes.csv, review.csv and every feedback page must be the same.
Then: a worker process killed mid-task (the task runs again and its grade appears once), and a
run killed half-way and started again (only what was missing is graded).
"""

from __future__ import annotations

import csv
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from instructor import batches
from instructor.autograde import autograde_chapters
from instructor.sandbox import sandbox_problem, unsandboxed

pytest.importorskip("distributed", reason="grading on workers needs the [instructor] extra (Dask)")
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
KINDS = {  # chapter -> kinds (a mistake submission is added to each); 12 submissions in all
    "03_attention": [
        "solution",
        "blank",
        "raises",
        "kernel-dies",
        "not-a-notebook",
        "tampered-metadata",
        "demo-id-tests",
    ],
    "02_embeddings": ["solution", "blank", "wrong-device"],
}


@pytest.fixture(scope="module")
def environment():
    patch = pytest.MonkeyPatch()
    patch.setenv("COURSE_CELL_TIMEOUT", "120")  # no kind here loops: a timeout would only be load
    patch.setenv("COURSE_KERNEL_MEMORY", "6G")
    if sandbox_problem() and not unsandboxed():
        patch.setenv("COURSE_GRADING_UNSANDBOXED", "1")  # test_sandbox.py says why (and fails in CI)
    yield
    patch.undo()


@pytest.fixture(scope="module")
def batch(environment, tmp_path_factory) -> tuple[Path, dict]:
    """A folder STUDENT/CHAPTER.ipynb of both chapters, and (chapter, student) -> Submission."""
    folder = tmp_path_factory.mktemp("submissions")
    built = {}
    for chapter, chosen in KINDS.items():
        subs = batches.submissions(chapter, chosen)
        subs.update({s: sub for s, (sub, _) in list(batches.mistake_submissions(chapter).items())[:1]})
        batches.write(subs, folder, chapter)
        built.update({(chapter, student): sub for student, sub in subs.items()})
    assert len(built) >= 12
    return folder, built


@pytest.fixture(scope="module")
def serial(batch, tmp_path_factory) -> Path:
    grading_dir = tmp_path_factory.mktemp("serial")
    autograde_chapters(list(KINDS), batch[0], grading_dir)
    return grading_dir


@pytest.fixture(scope="module")
def parallel(batch, tmp_path_factory) -> tuple[Path, list]:
    grading_dir = tmp_path_factory.mktemp("parallel")
    return grading_dir, autograde_chapters(list(KINDS), batch[0], grading_dir, workers=2)


def _grades(grading_dir: Path) -> list[dict]:
    with open(grading_dir / "grades.csv", newline="") as handle:
        return list(csv.DictReader(handle))


def _feedback(grading_dir: Path) -> dict[str, str]:
    """The text of each feedback page, by path: everything a reader sees, timestamps taken out.

    The HTML around it can differ between two runs of the same notebook, serial or not: how the
    kernel's stdout was cut into output blocks, and the random cell ids nbgrader's DeduplicateIds
    gives a duplicated cell. And the prompt of a cell that killed its kernel: whether
    "In [5]:" or "In [ ]:" depends on whether the kernel announced the execution before it died,
    a race in every run; prompts are no part of a grade, so they are compared blank."""
    pages = {}
    for page in sorted((grading_dir / "feedback").rglob("*.html")):
        text = re.sub(r"<[^>]*>", " ", page.read_text())
        text = re.sub(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(\.\d+)?", "TIME", text)
        text = re.sub(r"In\s\[[\d\s]*\]:", "In [ ]:", text)  # the prompt holds a no-break space
        pages[str(page.relative_to(grading_dir))] = " ".join(text.replace(str(grading_dir), "GRADING").split())
    return pages


def test_workers_grade_as_serial_grading_does(batch, serial, parallel):
    grading_dir, batches = parallel
    for name in ("grades.csv", "mistakes.csv", "review.csv"):
        assert (grading_dir / name).read_text() == (serial / name).read_text(), name
    assert _feedback(grading_dir) == _feedback(serial)
    assert len(_feedback(serial)) == len(batch[1]) - 1  # everyone but the file that is not a notebook


def test_workers_give_each_submission_its_expected_score(batch, parallel):
    _, built = batch
    grading_dir, batches = parallel
    scores = {(row["assignment"], row["student_id"]): float(row["raw_score"] or 0) for row in _grades(grading_dir)}
    assert set(built) <= set(scores)
    assert all(scores[key] == 0 for key in set(scores) - set(built))  # nothing submitted for that chapter
    for key, sub in built.items():
        if sub.expected == sub.expected:  # the mistake submissions' scores are checked against serial
            assert scores[key] == sub.expected, f"{key}: {sub.what}"
    failed = {(b.chapter, s) for b in batches for s in b.failed}
    assert failed == {("03_attention", "not-a-notebook")}  # scored 0 above, and reported


def _kill_a_busy_worker(client, killed: list, stop: threading.Event) -> None:
    """Once a task has run for 3 s, SIGKILL the worker process running it."""
    while not stop.is_set():
        busy = [worker for worker, keys in client.processing().items() if keys]
        if busy:
            time.sleep(3)
            keys = client.processing()[busy[0]]
            if not keys:
                continue
            pid = client.run(os.getpid, workers=[busy[0]])[busy[0]]
            os.kill(pid, signal.SIGKILL)
            killed.append((pid, list(keys)))
            return
        time.sleep(0.2)


def test_a_killed_worker_task_runs_again_and_is_graded_once(tmp_path_factory, environment):
    from dask.distributed import Client, LocalCluster

    folder = tmp_path_factory.mktemp("kill-submissions")
    built = batches.submissions("02_embeddings", ["solution", "blank", "nan", "wrong-device"])
    batches.write(built, folder, "02_embeddings")
    grading_dir = tmp_path_factory.mktemp("kill")
    killed, stop = [], threading.Event()
    with LocalCluster(n_workers=2, threads_per_worker=1, memory_limit=0) as cluster, Client(cluster) as client:
        killer = threading.Thread(target=_kill_a_busy_worker, args=(client, killed, stop))
        killer.start()
        try:
            autograde_chapters(["02_embeddings"], folder, grading_dir, scheduler=cluster.scheduler_address)
        finally:
            stop.set()
            killer.join()
    assert killed, "no worker was busy long enough to be killed"
    pid, keys = killed[0]
    rows = _grades(grading_dir)
    assert sorted(r["student_id"] for r in rows) == sorted(built)  # each once
    for row in rows:
        assert float(row["raw_score"]) == built[row["student_id"]].expected, row["student_id"]
    for key in keys:  # the killed task was graded again, by another worker process
        student = key.removeprefix("grade-02_embeddings-")
        log = (grading_dir / "logs" / "workers" / "02_embeddings" / f"{student}.log").read_text()
        assert f":{pid} " not in log.splitlines()[0]


def test_an_interrupted_run_started_again_grades_only_what_is_missing(batch, tmp_path_factory):
    folder, _ = batch
    grading_dir = tmp_path_factory.mktemp("interrupted")
    command = [
        sys.executable,
        "-m",
        "instructor.autograde",
        "02_embeddings",
        str(folder),
        "--grading-dir",
        str(grading_dir),
        "--workers",
        "1",
        "--no-feedback",
    ]
    run = subprocess.Popen(
        command, cwd=ROOT, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    done = grading_dir / "worker-results" / "done" / "02_embeddings"
    try:
        while len(list(done.glob("*"))) < 2 and run.poll() is None:
            time.sleep(0.5)
    finally:
        os.killpg(run.pid, signal.SIGKILL)  # the coordinator and its local cluster, mid-batch
        run.wait()
    first = {p.name: p.stat().st_mtime_ns for p in done.glob("*")}
    total = len(KINDS["02_embeddings"]) + 1
    assert 2 <= len(first) < total, "the run should have been stopped half-way"
    autograde_chapters(["02_embeddings"], folder, grading_dir, feedback=False, workers=2)
    assert all(done.joinpath(name).stat().st_mtime_ns == mtime for name, mtime in first.items())  # not again
    assert len(list(done.glob("*"))) == total
    assert sorted(r["student_id"] for r in _grades(grading_dir)) == sorted(p.name for p in done.glob("*"))
