"""The warm nbgrader of the Dask workers (instructor/warm_nbgrader.py) runs nbgrader's command line
as a cold ``python -m nbgrader`` does: the task's environment and folder, the exit status, the log;
and it starts again when its server has died."""

from __future__ import annotations

import os
import signal

import pytest

from instructor.nbgrader_cli import ROOT, nbgrader_env
from instructor.warm_nbgrader import WarmNbgrader

pytestmark = pytest.mark.slow  # each command is a real nbgrader run


@pytest.fixture
def warm():
    client = WarmNbgrader()
    yield client
    if client._process is not None:
        client._process.kill()
        client._process.wait()


def test_a_command_sees_the_task_environment_and_writes_its_log(warm, tmp_path):
    grading = tmp_path / "grading"
    db = tmp_path / "elsewhere.db"
    env = nbgrader_env(grading, {"COURSE_DB_URL": f"sqlite:///{db}"})
    log = tmp_path / "log.txt"
    assert warm.run(["db", "student", "add", "ada", "--last-name=Lovelace"], env, ROOT, log) == 0
    assert grading.is_dir(), "nbgrader_config.py read COURSE_GRADING_DIR from the task's environment"
    assert db.exists(), "the gradebook is where the task's COURSE_DB_URL says"
    assert warm.run(["db", "student", "list"], env, ROOT, log) == 0
    assert "ada" in log.read_text() and "Lovelace" in log.read_text()


def test_a_failing_command_returns_its_status(warm, tmp_path):
    env = nbgrader_env(tmp_path / "grading", {"COURSE_DB_URL": f"sqlite:///{tmp_path / 'g.db'}"})
    log = tmp_path / "log.txt"
    assert warm.run(["autograde", "no_such_chapter", "--student", "nobody"], env, ROOT, log) != 0
    assert log.read_text().strip(), "nbgrader's error is in the log"


def test_the_server_starts_again_after_it_died(warm, tmp_path):
    env = nbgrader_env(tmp_path / "grading", {"COURSE_DB_URL": f"sqlite:///{tmp_path / 'g.db'}"})
    log = tmp_path / "log.txt"
    assert warm.run(["db", "student", "list"], env, ROOT, log) == 0
    first = warm._process.pid
    os.kill(first, signal.SIGKILL)
    warm._process.wait()
    assert warm.run(["db", "student", "list"], env, ROOT, log) == 0
    assert warm._process.pid != first
