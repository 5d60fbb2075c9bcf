"""A warm nbgrader for Dask workers: import nbgrader once, fork a fresh process per command.

Starting ``nbgrader autograde`` costs about 2.5 s of CPU before it grades anything, almost all of
it importing nbgrader, nbconvert, jupyter_client and their dependencies. A worker grades hundreds
of submissions, so it keeps one server process (``WarmNbgrader``) that has done those imports;
for every command the server forks a child that runs nbgrader's own command line exactly as
``python -m nbgrader ARGS`` would: the task's environment and working folder, nbgrader_config.py
read afresh, output to a log file, exit status returned. Nothing course-specific is imported
before the fork, so a setting read from the environment at import time is the task's.

The server is single-threaded (forking is safe) and dies with the worker (PR_SET_PDEATHSIG);
each child dies with the server, so a killed worker leaves no grading behind it.
``COURSE_WARM_NBGRADER=0`` turns it off (a cold ``python -m nbgrader`` per command).
"""

from __future__ import annotations

import atexit
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

WARM_ENV = "COURSE_WARM_NBGRADER"
# Imported once by the server: nbgrader's and its converters' dependencies, nothing of the course.
PRELOAD = (
    "nbgrader.apps.nbgraderapp",
    "nbgrader.apps.autogradeapp",
    "nbgrader.converters",
    "nbgrader.preprocessors",
    "nbconvert",
    "jupyter_client",
    "sqlalchemy",
)


def enabled(env: dict[str, str] | None = None) -> bool:
    """Whether ``env`` (default: ours) leaves the warm nbgrader on."""
    value = (os.environ if env is None else env).get(WARM_ENV, "1")
    return value.strip().lower() not in ("0", "false", "no", "off")


def _die_with_parent() -> None:
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _child(request: dict) -> None:
    """In the forked child: run ``nbgrader ARGS`` as its command line would, then exit."""
    code = 1
    try:
        _die_with_parent()
        log = os.open(request["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(log, 1)
        os.dup2(log, 2)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.environ.clear()
        os.environ.update(request["env"])
        os.chdir(request["cwd"])
        sys.argv = ["nbgrader", *request["args"]]
        from nbgrader.apps.nbgraderapp import main

        try:
            main()
            code = 0
        except SystemExit as stop:
            code = stop.code if isinstance(stop.code, int) else (0 if stop.code is None else 1)
    except BaseException:  # noqa: BLE001 - reported in the log, the status says it failed
        import traceback

        traceback.print_exc()
    finally:
        atexit._run_exitfuncs()  # nbgrader_config.py's clean-up; os._exit skips it otherwise
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve() -> None:
    """The server's loop: one JSON request per line in, one ``{"returncode": N}`` per line out."""
    for name in PRELOAD:
        __import__(name)
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        pid = os.fork()
        if pid == 0:
            _child(json.loads(line))
        _, status = os.waitpid(pid, 0)
        print(json.dumps({"returncode": os.waitstatus_to_exitcode(status)}), flush=True)


class WarmNbgrader:
    """A client for one server process, started on first use and again if it has died."""

    def __init__(self) -> None:
        self._process: subprocess.Popen | None = None
        self._lock = threading.Lock()

    def _server(self) -> subprocess.Popen:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "instructor.warm_nbgrader"],
                cwd=Path(__file__).resolve().parents[1],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                preexec_fn=_die_with_parent,
            )
            if json.loads(self._process.stdout.readline() or "{}").get("ready") is not True:
                raise RuntimeError("the warm nbgrader server did not start")
            atexit.register(self.close)
        return self._process

    def close(self) -> None:
        """Stop the server (a worker leaving stops its server rather than waiting for the signal)."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()

    def run(self, args: list[str], env: dict[str, str], cwd: Path, log: Path) -> int:
        """``nbgrader ARGS`` in ``cwd`` with ``env``; its output goes to ``log``; its exit status."""
        with self._lock:
            server = self._server()
            server.stdin.write(json.dumps({"args": args, "env": env, "cwd": str(cwd), "log": str(log)}) + "\n")
            server.stdin.flush()
            answer = server.stdout.readline()
            if not answer:
                raise RuntimeError(f"the warm nbgrader server died running nbgrader {' '.join(args)}")
            return int(json.loads(answer)["returncode"])


if __name__ == "__main__":
    serve()
