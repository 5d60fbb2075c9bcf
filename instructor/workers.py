"""Grading spread over workers with Dask distributed (``--workers N`` / ``--scheduler ADDRESS``).

The unit of work is one (chapter, student) submission. A worker grades it in a workspace of its
own — a temporary course directory with its own copy of the chapter's gradebook — by running
``nbgrader autograde CHAPTER --student STUDENT`` there, every notebook in the bubblewrap sandbox
(instructor/sandbox.py) exactly as the serial path does, then writes the submission's feedback
page from that workspace's gradebook (``nbgrader generate_feedback --student``), and sends back
the autograded notebook and the page.
A worker keeps nbgrader warm (instructor/warm_nbgrader.py): it imports nbgrader once and forks a
fresh process per submission, which saves each task about 2.5 s of start-up.
The coordinator keeps the one gradebook: it stores each returned notebook under
``GRADING/worker-results/`` and, once a chapter is done, *records* them with one
``nbgrader autograde`` in record mode (nbgrader_config.py: no sanitising, no kernel, only
``SaveAutoGrades`` and the late penalties), so the gradebook, grades.csv, feedback and
mistakes.csv are made by the same nbgrader code from the same notebooks as serially. A chapter is
recorded (and its feedback pages published) in a background thread as soon as its last submission
is back, while the pool grades the other chapters: what is left after the pool is the last
chapter's recording, grades.csv and the class report.

Nothing lost, nothing twice: Dask runs a task again elsewhere when its worker dies; results are
keyed by (chapter, student), so a retried task overwrites its own result. A result carries the
SHA-256 of the submission it graded: a run started again grades only what is missing or was
resubmitted. A task that cannot be graded (its file is not a notebook, or Dask gave up on it)
leaves a placeholder that nbgrader cannot read: recorded, it scores 0 and is reported as today.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from . import warm_nbgrader
from .nbgrader_cli import ROOT, nbgrader, nbgrader_env
from .sandbox import UNSANDBOXED_ENV, SandboxError, parse_size, sandbox_problem

RECORD_ENV = "COURSE_GRADING_RECORD"  # read by nbgrader_config.py: the folder of graded notebooks to record
WORKER_MEMORY_ENV = "COURSE_WORKER_MEMORY"
DEFAULT_WORKER_MEMORY = "2G"
# Settings a worker's nbgrader and kernels must share with the coordinator; where the gradebook
# and grading folder are is the workspace's own business.
PASSED_ENV = ("COURSE_", "NBGRADER_", "OMP_NUM_THREADS", "MKL_NUM_THREADS")
LOCAL_ENV = ("COURSE_GRADING_DIR", "COURSE_DB_URL", RECORD_ENV)


@dataclass(frozen=True)
class Task:
    """One submission to grade: everything a worker on another machine needs besides the course."""

    chapter: str
    student: str
    files: dict[str, bytes]  # the student's submitted folder: CHAPTER.ipynb, timestamp.txt, ...
    env: dict[str, str]
    feedback: bool = True  # also write the feedback page (nbgrader generate_feedback) on the worker


@dataclass(frozen=True)
class Graded:
    """What a worker sends back."""

    chapter: str
    student: str
    notebook: bytes | None  # the autograded notebook; None: nbgrader could not grade the file
    log: str
    seconds: float  # grading time on the worker, workspace set-up included
    worker: str
    feedback: bytes | None = None  # the feedback page (HTML), when asked for and the notebook was graded


# --------------------------------------------------------------------------- on the worker


@lru_cache(maxsize=1)
def _warm() -> warm_nbgrader.WarmNbgrader:
    """This worker process's warm nbgrader (instructor/warm_nbgrader.py)."""
    return warm_nbgrader.WarmNbgrader()


@lru_cache(maxsize=1)
def _sandbox_problem() -> str | None:
    return sandbox_problem()


def _check_sandbox(env: dict[str, str]) -> None:
    """Refuse to grade on a worker machine where bubblewrap cannot start (unless opted out)."""
    opted_out = env.get(UNSANDBOXED_ENV, "").strip().lower() in ("1", "true", "yes", "on")
    if _sandbox_problem() and not opted_out:
        raise SandboxError(f"worker {os.uname().nodename}: refusing to grade: {_sandbox_problem()}")


def grade(task: Task, gradebook: bytes) -> Graded:
    """Grade one submission in a fresh workspace on this worker (a Dask task); ``gradebook`` is a
    SQLite gradebook holding only the chapter's assignment (``template_gradebook``)."""
    started = time.perf_counter()
    _check_sandbox(task.env)
    with tempfile.TemporaryDirectory(prefix="course-workspace-") as scratch:
        workspace = Path(scratch)
        folder = workspace / "submitted" / task.student / task.chapter
        for name, data in task.files.items():
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / name).write_bytes(data)
        (workspace / "gradebook.db").write_bytes(gradebook)
        env = dict(task.env, COURSE_DB_URL=f"sqlite:///{workspace / 'gradebook.db'}")
        log = _run(workspace, env, "autograde", task.chapter, "--student", task.student, "--force")
        graded = workspace / "autograded" / task.student / task.chapter / f"{task.chapter}.ipynb"
        notebook = graded.read_bytes() if graded.exists() else None
        feedback = None
        if notebook is not None and task.feedback:  # from the workspace's gradebook: the same page
            log += _run(workspace, env, "generate_feedback", task.chapter, "--student", task.student, "--force")
            page = workspace / "feedback" / task.student / task.chapter / f"{task.chapter}.html"
            feedback = page.read_bytes() if page.exists() else None
    return Graded(
        task.chapter,
        task.student,
        notebook,
        log,
        time.perf_counter() - started,
        f"{os.uname().nodename}:{os.getpid()}",
        feedback,
    )


def _run(workspace: Path, env: dict[str, str], *args: str) -> str:
    """``nbgrader ARGS`` in ``workspace`` (warm unless turned off); returns its log."""
    if warm_nbgrader.enabled(env):
        log_file = workspace / "nbgrader.log"
        _warm().run(list(args), nbgrader_env(workspace, env), ROOT, log_file)
        return log_file.read_text(errors="replace")
    result = nbgrader(*args, grading_dir=workspace, check=False, extra_env=env, die_with_parent=True)
    return result.stdout + result.stderr


# --------------------------------------------------------------------------- on the coordinator


def results_dir(grading_dir: Path) -> Path:
    """Where the coordinator keeps the notebooks graded on workers (STUDENT/CHAPTER/...)."""
    return grading_dir / "worker-results" / "graded"


def _feedback_page(grading_dir: Path, chapter: str, student: str) -> Path:
    return grading_dir / "worker-results" / "feedback" / student / chapter / f"{chapter}.html"


def publish_feedback(grading_dir: Path, chapter: str) -> bool:
    """Put the feedback pages the workers wrote for ``chapter`` where nbgrader's generate_feedback
    would (GRADING/feedback/STUDENT/CHAPTER/CHAPTER.html), once the chapter is recorded. False when
    a recorded submission has no page (graded by a run without feedback): generate them instead."""
    pages = sorted((grading_dir / "worker-results" / "feedback").glob(f"*/{chapter}/{chapter}.html"))
    for page in pages:
        target = grading_dir / "feedback" / page.relative_to(page.parents[2])
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(page, target)
    recorded = {path.parents[1].name for path in (grading_dir / "autograded").glob(f"*/{chapter}/{chapter}.ipynb")}
    return recorded <= {page.parents[1].name for page in pages}


def _digest(folder: Path) -> str:
    """SHA-256 of a submitted folder's files (names and contents)."""
    sha = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        sha.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes() + b"\0")
    return sha.hexdigest()


def _marker(grading_dir: Path, chapter: str, student: str) -> Path:
    return grading_dir / "worker-results" / "done" / chapter / student


def pending(grading_dir: Path, chapter: str) -> list[str]:
    """Students of ``chapter`` whose current submission has no stored result."""
    todo = []
    for folder in sorted((grading_dir / "submitted").glob(f"*/{chapter}")):
        marker = _marker(grading_dir, chapter, folder.parent.name)
        if not marker.exists() or marker.read_text() != _digest(folder):
            todo.append(folder.parent.name)
    return todo


def template_gradebook(grading_dir: Path, chapter: str) -> bytes:
    """A SQLite gradebook with only ``chapter``'s assignment, for the workers' workspaces."""
    folder = grading_dir / "workspace-template" / chapter
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    nbgrader(
        "generate_assignment",
        chapter,
        "--force",
        f"--CourseDirectory.release_directory={folder / 'release'}",
        grading_dir=folder,
        extra_env={"COURSE_DB_URL": f"sqlite:///{folder / 'gradebook.db'}"},
    )
    return (folder / "gradebook.db").read_bytes()


def task_for(grading_dir: Path, chapter: str, student: str, feedback: bool = True) -> Task:
    folder = grading_dir / "submitted" / student / chapter
    files = {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}
    env = {k: v for k, v in os.environ.items() if k.startswith(PASSED_ENV) and k not in LOCAL_ENV}
    return Task(chapter, student, files, env, feedback)


def store(grading_dir: Path, graded: Graded | None, chapter: str, student: str, why: str = "") -> None:
    """Keep a worker's result where the record step reads it; a placeholder when there is none."""
    submitted = grading_dir / "submitted" / student / chapter
    target = results_dir(grading_dir) / student / chapter
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(submitted, target)  # timestamp.txt and any other file, as nbgrader would see them
    notebook = target / f"{chapter}.ipynb"
    log = grading_dir / "logs" / "workers" / chapter / f"{student}.log"
    page = _feedback_page(grading_dir, chapter, student)
    page.unlink(missing_ok=True)  # an earlier submission's page must not outlive it
    if graded is not None and graded.feedback is not None:
        page.parent.mkdir(parents=True, exist_ok=True)
        page.write_bytes(graded.feedback)
    if graded is not None and graded.notebook is not None:
        notebook.write_bytes(graded.notebook)
    else:  # unreadable: recorded as not graded, 0 points, like a broken file serially
        notebook.write_text(f"not graded on the workers: {why or 'nbgrader could not grade it'}; see {log}\n")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"graded on {graded.worker} in {graded.seconds:.1f} s\n{graded.log}" if graded else why)
    marker = _marker(grading_dir, chapter, student)
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(_digest(submitted))


# --------------------------------------------------------------------------- the cluster


def default_workers() -> int:
    """The machine's cores, bounded by available memory at COURSE_WORKER_MEMORY (2G) a worker.

    A worker grades one submission at a time: one nbgrader process (~150 MB) and one kernel. The
    kernel's address-space limit (COURSE_KERNEL_MEMORY, 8G) is not what it uses: torch alone maps
    about 3.5 GB of address space, while a fast-mode grading kernel stays resident well under 2 GB.
    """
    import psutil  # a dependency of distributed

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    budget = parse_size(os.environ.get(WORKER_MEMORY_ENV, DEFAULT_WORKER_MEMORY), WORKER_MEMORY_ENV) or 1
    return max(1, min(cores, psutil.virtual_memory().available // budget))


@contextmanager
def open_client(workers: int | None = None, scheduler: str | None = None):
    """A Dask client: on an existing cluster (``scheduler``) or on a LocalCluster of ``workers``
    processes, closed (the local cluster with it) on leaving the block."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise ValueError("grading on workers needs Dask: pip install -e '.[instructor]'") from None
    if scheduler:
        with Client(scheduler) as client:
            yield client
        return
    # one task at a time per process; the sandbox limits each kernel, so Dask must not kill workers
    with (
        LocalCluster(
            n_workers=workers or default_workers(), threads_per_worker=1, processes=True, memory_limit=0
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client


def dashboard(client) -> str | None:
    """The dashboard's address when it is served (it needs bokeh)."""
    if importlib.util.find_spec("bokeh") is None:
        return None
    return client.dashboard_link


def grade_on_workers(
    grading_dir: Path,
    chapters: list[str],
    workers: int | None = None,
    scheduler: str | None = None,
    log=print,
    on_chapter_done=None,
    feedback: bool = True,
) -> dict[str, int]:
    """Grade every collected submission of ``chapters`` that has no result yet, in one pool.

    Each worker also writes the submission's feedback page unless ``feedback`` is False.
    ``on_chapter_done(chapter)`` is called once per chapter, as soon as every submission of it has
    a stored result (at once for a chapter with nothing left to grade), while the pool goes on.
    Returns chapter -> number of submissions graded in this run (the rest were already done).
    """
    from dask.distributed import as_completed
    from distributed.client import FutureCancelledError
    from tqdm.auto import tqdm

    todo = {chapter: pending(grading_dir, chapter) for chapter in chapters}
    total = sum(map(len, todo.values()))
    done_before = sum(len(list((grading_dir / "submitted").glob(f"*/{c}"))) for c in chapters) - total
    if done_before:
        log(f"{done_before} submission(s) already graded by an earlier run; {total} to grade")
    left = {chapter: len(students) for chapter, students in todo.items()}
    done = on_chapter_done or (lambda chapter: None)
    for chapter in [c for c, n in left.items() if not n]:
        done(chapter)
    if not total:
        return {chapter: 0 for chapter in chapters}
    with open_client(workers, scheduler) as client:
        where = dashboard(client)
        log(
            f"grading {total} submission(s) on {len(client.scheduler_info()['workers'])} Dask worker(s)"
            + (f"; dashboard: {where}" if where else "")
        )
        futures = {}
        for chapter, students in todo.items():
            if not students:
                continue
            gradebook = client.scatter(template_gradebook(grading_dir, chapter), broadcast=True)
            for student in students:
                future = client.submit(
                    grade,
                    task_for(grading_dir, chapter, student, feedback),
                    gradebook,
                    key=f"grade-{chapter}-{student}",
                    pure=False,
                )
                futures[future] = (chapter, student)
        with tqdm(total=total, unit="submission", desc="grading") as bar:
            for future in as_completed(futures):
                chapter, student = futures[future]
                try:
                    store(grading_dir, future.result(), chapter, student)
                except SandboxError:
                    raise
                except (Exception, FutureCancelledError) as err:  # KilledWorker: Dask gave up on it
                    store(grading_dir, None, chapter, student, why=f"{type(err).__name__}: {err}")
                bar.update()
                left[chapter] -= 1
                if not left[chapter]:
                    done(chapter)
    return {chapter: len(students) for chapter, students in todo.items()}
