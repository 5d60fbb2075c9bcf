"""Reproducible grades, and the gradebook on a real PostgreSQL server (slow).

The same submissions graded twice give a byte-identical grades.csv, and graded into PostgreSQL
(through nbgrader's db_url, COURSE_DB_URL) they export the same file as with sqlite. The
PostgreSQL test starts its own server on loopback from Debian's `postgresql` binaries (initdb
into a temporary folder, run as the `postgres` user when the tests run as root) and needs
psycopg2 (the [dev] extra). Missing pieces skip it with the reason, except in CI.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from instructor import batches, kinds
from instructor.autograde import autograde_chapters
from instructor.sandbox import sandbox_problem, unsandboxed

pytestmark = pytest.mark.slow
KINDS = ["nan", "infinite-loop"]  # partial scores, one of them through a timeout


def _need(condition: bool, reason: str) -> None:
    if not condition:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run this test: {reason}")
        pytest.skip(reason)


@pytest.fixture(scope="module")
def submissions(tmp_path_factory):
    chapter = kinds.TEMPLATE_CHAPTER
    folder = tmp_path_factory.mktemp("db-submissions")
    return chapter, batches.write(batches.submissions(chapter, KINDS), folder, chapter)


@pytest.fixture(scope="module")
def grading_env():
    patch = pytest.MonkeyPatch()
    patch.setenv("COURSE_CELL_TIMEOUT", "10")
    if sandbox_problem() and not unsandboxed():
        patch.setenv("COURSE_GRADING_UNSANDBOXED", "1")  # test_sandbox.py reports the missing sandbox
    yield patch
    patch.undo()


@pytest.fixture(scope="module")
def sqlite_grades(submissions, grading_env, tmp_path_factory):
    chapter, folder = submissions
    grading_dir = tmp_path_factory.mktemp("db-sqlite") / "grading"
    first = autograde_chapters([chapter], folder, grading_dir, feedback=False)[0]
    return grading_dir, first, (grading_dir / "grades.csv").read_bytes()


def test_grading_twice_gives_identical_grades_csv(submissions, sqlite_grades):
    chapter, folder = submissions
    grading_dir, first, grades = sqlite_grades
    assert first.scores == {k: sub.expected for k, sub in batches.submissions(chapter, KINDS).items()}
    again = autograde_chapters([chapter], folder, grading_dir, feedback=False)[0]
    assert again.scores == first.scores
    assert (grading_dir / "grades.csv").read_bytes() == grades


# --------------------------------------------------------------------------- PostgreSQL


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def postgres_url():
    """A throwaway PostgreSQL server on 127.0.0.1; yields its URL."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    _need(initdb and pg_ctl, "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql")
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        _need(False, "psycopg2 is not installed (pip install -e '.[dev]')")
    user = None
    if os.geteuid() == 0:  # postgres refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            _need(False, "running as root and there is no 'postgres' user to run the server as")
    data = Path(tempfile.mkdtemp(prefix="course-pg-"))
    if user:
        os.chown(data, user.pw_uid, user.pw_gid)
    run_as = {"user": user.pw_uid, "group": user.pw_gid} if user else {}
    port = _free_port()
    subprocess.run(
        [initdb, "-D", str(data / "db"), "-U", "postgres", "-A", "trust", "-E", "UTF8"],
        check=True,
        capture_output=True,
        **run_as,
    )
    options = f"-k {data} -p {port} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        [pg_ctl, "-D", str(data / "db"), "-o", options, "-l", str(data / "log"), "-w", "start"],
        check=True,
        capture_output=True,
        **run_as,
    )
    try:
        yield f"postgresql+psycopg2://postgres@127.0.0.1:{port}/postgres"  # SQLAlchemy 2.1 defaults to psycopg 3
    finally:
        subprocess.run([pg_ctl, "-D", str(data / "db"), "-m", "immediate", "stop"], capture_output=True, **run_as)
        time.sleep(0.5)
        shutil.rmtree(data, ignore_errors=True)


def test_postgresql_gradebook_exports_the_same_grades_as_sqlite(
    submissions, sqlite_grades, postgres_url, tmp_path, monkeypatch
):
    chapter, folder = submissions
    _, first, grades = sqlite_grades
    monkeypatch.setenv("COURSE_DB_URL", postgres_url)
    on_postgres = autograde_chapters([chapter], folder, tmp_path / "grading", feedback=False)[0]
    assert on_postgres.scores == first.scores
    assert (tmp_path / "grading" / "grades.csv").read_bytes() == grades
    assert not (tmp_path / "grading" / "gradebook.db").exists()

    import psycopg2

    with psycopg2.connect(postgres_url.replace("+psycopg2", "")) as db, db.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM submitted_assignment")
        assert cursor.fetchone()[0] == len(KINDS)
